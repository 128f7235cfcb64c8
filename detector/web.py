"""`detector web`: the review page. Events with their clips, spectrograms and score traces, the verdict
buttons, the verifier's state, and the live view fed by the service's socket. Its own process: it reads
the event history beside the service (SQLite WAL) and marks verdicts as `detector mark` does.

Security: loopback only unless a password is set; then every request needs the session cookie (HttpOnly,
SameSite=Strict) or the password as a bearer token, and a wrong one gets 401. Every change is a POST with
the page's CSRF token. A clip is found by event id in the history, and served only from the clips
directory: no part of a request's path reaches the filesystem.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np

from . import history
from .config import Config, loopback
from .lessons import verifier_path
from .model import Classifier

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("web_static")
COOKIE = "barkcry_session"


@dataclass
class WebState:
    cfg: Config
    secret: str | None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    session: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    cpu: tuple[float, float] | None = None  # (wall, the service's CPU seconds) at the last health call
    _db: sqlite3.Connection | None = None
    _clf: Classifier | None = None
    _clf_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def live_path(self) -> Path:
        return Path(self.cfg.state_dir) / "live.sock"

    def db(self) -> sqlite3.Connection:
        """The history, opened once (the handlers run on the event loop's one thread)."""
        if self._db is None:
            self._db = history.connect(self.cfg.history_path())
        return self._db

    def spectrogram(self, clip: Path, start: float, end: float) -> dict:
        """One small model, loaded at the first clip and used by one request at a time (an interpreter is
        not thread-safe, and the page asks for every clip's at once)."""
        with self._clf_lock:
            if self._clf is None:
                self._clf = Classifier(self.cfg.model_path())
            return spectrogram(self.cfg, self._clf, clip, start, end)


def spectrogram(cfg: Config, clf: Classifier, clip: Path, start: float, end: float) -> dict:
    """The clip's log-mel (uint8, 0.5 dB steps over its top 80 dB) and each label's score per window, with
    the event's span on the clip's time axis (the clip ends when the event does)."""
    from .audiofile import read_audio
    from .frontend import LogMel
    from .scan import window_scores

    x = read_audio(clip, clf.frontend.sample_rate, max_s=cfg.clips.max_s + 10)
    mel = LogMel(clf.frontend).compute(x)
    top = float(mel.max()) if mel.size else 0.0
    q = np.clip((mel - (top - 80.0)) * 255.0 / 80.0, 0, 255).astype(np.uint8)
    ws = window_scores(cfg, clf, x)
    dur = x.size / clf.frontend.sample_rate
    return {
        "frames": int(q.shape[0]),
        "mels": int(q.shape[1]),
        "duration": dur,
        "mel": base64.b64encode(q.tobytes()).decode(),
        "top_db": top,
        "event": [max(0.0, dur - (end - start)), dur],
        "t": [round(w.t_end, 3) for w in ws],
        "scores": {lab: [round(w.scores[lab], 3) for w in ws] for lab in clf.labels},
        "thresholds": clf.thresholds,
    }


def clip_path(cfg: Config, db, event_id: str) -> Path | None:
    """The clip of ``event_id``, if the history names one that lies in the clips directory."""
    row = db.execute("SELECT clip FROM events WHERE id = ?", (event_id,)).fetchone()
    if row is None or not row[0]:
        return None
    clips = Path(cfg.clips.dir).resolve()
    p = Path(row[0]).resolve()
    return p if p.parent == clips and p.is_file() else None


def verifier_state(cfg: Config, db, labels: list[str]) -> dict:
    try:
        saved = json.loads(verifier_path(cfg).read_text())
    except (OSError, ValueError):
        saved = {}
    marks = {
        lab: n
        for lab, n in db.execute("SELECT label, COUNT(*) FROM events WHERE verdict = 'false_alarm' GROUP BY label")
    }
    return {
        lab: {
            "false_alarms": marks.get(lab, 0),
            "on": lab in saved.get("heads", {}),
            "fit": saved.get("fit", {}).get(lab),
            "fitted_at": saved.get("fitted_at"),
        }
        for lab in labels
    }


def service_cpu(state: WebState, pid: int) -> float | None:
    """The service's CPU use since the last call, in % of one core."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    now, last = time.monotonic(), state.cpu
    state.cpu = (now, cpu)
    return None if last is None or now - last[0] < 0.5 else round(100 * (cpu - last[1]) / (now - last[0]), 1)


async def live_lines(path: Path):
    """The service's live feed, line by line, until it goes away."""
    reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 20)
    try:
        while line := await reader.readline():
            yield line
    finally:
        writer.close()


def make_app(state: WebState):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.requests import Request
    from starlette.responses import (
        FileResponse,
        HTMLResponse,
        JSONResponse,
        RedirectResponse,
        Response,
        StreamingResponse,
    )
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    cfg = state.cfg

    db = state.db

    def page(name: str) -> HTMLResponse:
        html = (STATIC / name).read_text().replace("{{csrf}}", state.csrf)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    class Guard(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next):
            if (
                state.secret is not None
                and request.url.path not in ("/login",)
                and not request.url.path.startswith("/static/")
            ):
                cookie = request.cookies.get(COOKIE, "")
                bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
                if not (hmac.compare_digest(cookie, state.session) or hmac.compare_digest(bearer, state.secret)):
                    if (
                        request.method == "GET"
                        and "text/html" in request.headers.get("accept", "")
                        and not cookie
                        and not bearer
                    ):
                        return RedirectResponse("/login", 303)
                    return JSONResponse({"error": "not signed in"}, 401)
            if (
                request.method == "POST"
                and request.url.path != "/login"
                and not hmac.compare_digest(request.headers.get("x-csrf-token", ""), state.csrf)
            ):
                return JSONResponse({"error": "missing or wrong CSRF token"}, 403)
            return await call_next(request)

    async def login(request: Request):
        if request.method == "GET":
            return page("login.html")
        # a one-field form, read without python-multipart
        given = parse_qs((await request.body()).decode(errors="replace")).get("password", [""])[0]
        if state.secret is None or not hmac.compare_digest(given, state.secret):
            return HTMLResponse("wrong password", 401)
        r = RedirectResponse("/", 303)
        r.set_cookie(COOKIE, state.session, httponly=True, samesite="strict")
        return r

    async def events_page(request: Request):
        return page("events.html")

    async def live_page(request: Request):
        return page("live.html")

    async def events(request: Request):
        label, day = request.query_params.get("label") or None, request.query_params.get("day")
        since = until = None
        if day:
            try:
                since = time.mktime(time.strptime(day, "%Y-%m-%d"))
            except ValueError:
                return JSONResponse({"error": f"day {day!r}: expected YYYY-MM-DD"}, 400)
            until = since + 86400
        rows = [r for r in history.select(db(), label, since) if until is None or r.start < until]
        return JSONResponse([r.as_dict() | {"clip": r.clip is not None} for r in reversed(rows)])

    async def clip(request: Request):
        p = clip_path(cfg, db(), request.path_params["id"])
        return FileResponse(p, media_type="audio/flac") if p else Response(status_code=404)

    async def spectro(request: Request):
        d = db()
        eid = request.path_params["id"]
        p = clip_path(cfg, d, eid)
        row = d.execute("SELECT start, end FROM events WHERE id = ?", (eid,)).fetchone()
        if p is None or row is None:
            return Response(status_code=404)
        start, end = row[0], row[1] if row[1] is not None else row[0]
        return JSONResponse(await asyncio.to_thread(state.spectrogram, p, start, end))

    async def verdict(request: Request):
        try:
            body = await request.json()
            v = body.get("verdict")
            history.mark(db(), request.path_params["id"], v, "web")
        except (ValueError, AttributeError) as e:
            return JSONResponse({"error": f"bad request: {e}"}, 400)
        except history.HistoryError as e:
            return JSONResponse({"error": str(e)}, 404)
        return JSONResponse({"id": request.path_params["id"], "verdict": v})

    async def verifier(request: Request):
        from .model import Sidecar

        labels = Sidecar.read(cfg.model_path().with_suffix(".json")).labels
        return JSONResponse(verifier_state(cfg, db(), labels))

    async def health(request: Request):
        out = {"service": "not running", "state_dir": cfg.state_dir}
        try:
            lines = live_lines(state.live_path)
            hello = json.loads(await asyncio.wait_for(anext(lines), 2.0))["hello"]
            await lines.aclose()
        except (TimeoutError, OSError, StopAsyncIteration, ValueError, KeyError):
            return JSONResponse(out)
        return JSONResponse(
            out
            | {
                "service": "running",
                "device": hello["device"],
                "model": hello["model"],
                "uptime_s": round(time.time() - hello["started"]),
                "cpu_percent": service_cpu(state, hello["pid"]),
                "problem": hello.get("problem", []),
                "thresholds": hello["thresholds"],
            }
        )

    async def live(request: Request):
        async def stream():
            try:
                async for line in live_lines(state.live_path):
                    yield b"data: " + line.rstrip(b"\n") + b"\n\n"
                    if await request.is_disconnected():
                        return
            except OSError:
                pass
            yield b"event: gone\ndata: {}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", events_page),
        Route("/live", live_page),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/api/events", events),
        Route("/api/events/{id}/clip", clip),
        Route("/api/events/{id}/spectrogram", spectro),
        Route("/api/events/{id}/verdict", verdict, methods=["POST"]),
        Route("/api/verifier", verifier),
        Route("/api/health", health),
        Route("/api/live", live),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    return Starlette(routes=routes, middleware=[Middleware(Guard)])


def serve(cfg: Config, host: str | None = None, port: int | None = None) -> int:
    import uvicorn

    from .config import ConfigError

    host, port = host or cfg.web.host, port or cfg.web.port
    secret = cfg.web.secret()
    if not loopback(host) and not secret:
        raise ConfigError(
            f"web.host: got {host!r}, expected 127.0.0.1, or set web.password: the page shows and "
            "plays what the microphone heard"
        )
    history.connect(cfg.history_path()).close()  # made if new, owner-only, before anyone reads it
    log.info("review page on http://%s:%d/%s", host, port, "" if secret else " (loopback only, no password)")
    uvicorn.run(make_app(WebState(cfg, secret)), host=host, port=port, log_level="warning", access_log=False)
    return 0
