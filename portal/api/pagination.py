from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Stable paging for lists that grow while a client pages through them."""

    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"
