"""Simulator Resumable Upload: the sessions and handles a template's media header example needs
(`POST /{app-id}/uploads`, `POST /upload:…` with `file_offset` and the bytes, `GET /upload:…`),
answered as Meta does; a template that names a handle the simulator never issued is refused."""

from __future__ import annotations

import base64
import hashlib
import itertools

from portal.meta.simulator.common import GraphError, _invalid

UPLOAD_TYPES = frozenset(
    {"application/pdf", "image/jpeg", "image/jpg", "image/png", "video/mp4", "video/3gpp"}
)
UPLOAD_MAX_BYTES = 100 * 1024 * 1024


class UploadsMixin:
    """Upload sessions and handles; part of `Simulator`."""

    def _uploads_init(self, app_id: str) -> None:
        self.app_id = app_id
        self.upload_sessions: dict[str, dict] = {}
        self.upload_handles: dict[str, dict] = {}
        self._upload_ids = itertools.count(1)

    def _upload_start(self, app_id: str, query: dict) -> dict:
        if self.app_id and app_id != self.app_id:
            raise GraphError(
                400,
                100,
                f"Unsupported post request. Object with ID '{app_id}' does not exist.",
                subcode=33,
                error_type="GraphMethodException",
            )
        try:
            length = int(query.get("file_length") or "")
        except ValueError:
            raise _invalid(None, "Invalid file length", "file_length must be a number.") from None
        file_type = str(query.get("file_type") or "").lower()
        if file_type not in UPLOAD_TYPES:
            raise _invalid(None, "Invalid file type", f"file_type {file_type!r} is not supported.")
        if not 0 < length <= UPLOAD_MAX_BYTES:
            raise _invalid(None, "Invalid file length", "The file is empty or too big.")
        session_id = (
            f"upload:{base64.urlsafe_b64encode(f'sim-{next(self._upload_ids)}'.encode()).decode()}"
        )
        self.upload_sessions[session_id] = {
            "file_name": str(query.get("file_name") or ""),
            "file_length": length,
            "file_type": file_type,
            "data": b"",
            "handle": None,
        }
        return {"id": session_id}

    def _upload_session(self, session_id: str) -> dict:
        session = self.upload_sessions.get(session_id)
        if session is None:
            raise GraphError(
                400,
                100,
                f"Unsupported request. Upload session '{session_id}' does not exist.",
                subcode=33,
                error_type="GraphMethodException",
            )
        return session

    def _upload_write(self, session_id: str, offset: str, data: bytes) -> dict:
        session = self._upload_session(session_id)
        if session["handle"] is not None:
            return {"h": session["handle"]}
        try:
            at = int(offset or "0")
        except ValueError:
            raise _invalid(None, "Invalid file offset", "file_offset must be a number.") from None
        if at != len(session["data"]) and at != 0:
            raise _invalid(
                None,
                "Invalid file offset",
                f"The upload continues at offset {len(session['data'])}.",
            )
        session["data"] = session["data"][:at] + data
        if len(session["data"]) > session["file_length"]:
            raise _invalid(None, "Invalid file length", "More bytes than file_length.")
        if len(session["data"]) < session["file_length"]:
            return {"id": session_id, "file_offset": len(session["data"])}
        digest = hashlib.sha256(session["data"]).hexdigest()[:24]
        kind = base64.b64encode(session["file_type"].encode()).decode()
        handle = f"4::{kind}:{digest}"
        session["handle"] = handle
        self.upload_handles[handle] = {
            "file_name": session["file_name"],
            "file_type": session["file_type"],
            "bytes": len(session["data"]),
        }
        return {"h": handle}

    def _upload_status(self, session_id: str) -> dict:
        session = self._upload_session(session_id)
        return {"id": session_id, "file_offset": len(session["data"])}

    def _check_header_handle(self, component: dict, fmt: str) -> None:
        example = component.get("example") if isinstance(component.get("example"), dict) else {}
        handles = example.get("header_handle")
        if not isinstance(handles, list) or not handles:
            raise _invalid(
                2388047,
                "Invalid header",
                f"A {fmt} header needs example.header_handle from a Resumable Upload.",
            )
        for handle in handles:
            if str(handle) not in self.upload_handles:
                raise _invalid(
                    2388047,
                    "Invalid header",
                    "example.header_handle is not a handle of an uploaded file.",
                )
