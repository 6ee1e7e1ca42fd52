import threading

from portal.threadflags import ThreadFlag


def test_a_flag_is_set_for_its_block_and_restored_after_nesting():
    flag = ThreadFlag()
    assert not flag
    with flag.set_to(True):
        assert flag
        with flag.set_to(False):
            assert not flag
        assert flag
    assert not flag


def test_a_flag_set_in_one_thread_is_off_in_another():
    flag = ThreadFlag()
    seen = []
    with flag.set_to(True):
        other = threading.Thread(target=lambda: seen.append(bool(flag)))
        other.start()
        other.join()
    assert seen == [False]


def test_a_block_that_raises_still_restores_the_flag():
    flag = ThreadFlag()
    try:
        with flag.set_to(True):
            raise ValueError("boom")
    except ValueError:
        pass
    assert not flag
