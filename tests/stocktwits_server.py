"""A real HTTP server on 127.0.0.1 speaking the StockTwits API v2 symbol streams, with scripted faults.

`GET /api/2/streams/symbol/{SYMBOL}.json[?since=ID][&max=ID]` answers as StockTwits does:
the newest `page_size` messages (30) of the symbol, newest first, with id > since and
id <= max, and `cursor: {more, since, max}`; a symbol it does not know gets HTTP 404 with
StockTwits' error JSON. `faults[SYMBOL]` is a list of scripted answers consumed one per
request before the normal ones: `RateLimited(retry_after)` (HTTP 429 with Retry-After),
`Status(code)`, or `BotCheck()` (HTTP 403 with an HTML challenge page).
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = ["StocktwitsServer", "RateLimited", "Status", "BotCheck"]


@dataclass
class RateLimited:
    retry_after: str = "1"


@dataclass
class Status:
    code: int


@dataclass
class BotCheck:
    pass


class StocktwitsServer:
    """`with StocktwitsServer() as st:`; `st.api_base` goes in $FINTERM_STOCKTWITS_API_BASE."""

    def __init__(self, page_size: int = 30, faults: dict | None = None, refuse_all: bool = False) -> None:
        self.page_size = page_size
        self.faults: dict[str, list] = {k.upper(): list(v) for k, v in (faults or {}).items()}
        self.refuse_all = refuse_all
        self.messages: dict[str, dict[int, dict]] = {}
        #: (symbol, query, status) per request, in order.
        self.requests: list[tuple[str, dict, int]] = []
        self.lock = threading.Lock()
        self._open: set = set()  # client connections, cut on stop()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.api_base = f"http://127.0.0.1:{self.port}/api/2"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="stocktwits-server", daemon=True)

    def __enter__(self) -> "StocktwitsServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop as a killed service does: no new connections, and the open ones cut."""
        self._httpd.shutdown()
        self._httpd.server_close()
        with self.lock:
            open_ = list(self._open)
        for sock in open_:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def add_symbol(self, symbol: str) -> None:
        self.messages.setdefault(symbol.upper(), {})

    def publish(self, msg_id: int, body: str, symbols=("AAPL",), username: str = "trader", sentiment: str | None = None,
                created_at: str = "2026-11-25T10:00:00Z") -> dict:
        """Store a message in every named symbol's stream, shaped as StockTwits sends it."""
        msg = {
            "id": msg_id, "body": body, "created_at": created_at,
            "user": {"id": abs(hash(username)) % 10**7, "username": username, "name": username.title(),
                     "avatar_url": "https://avatars.stocktwits.com/x.png", "official": False},
            "source": {"id": 1, "title": "StockTwits", "url": "https://stocktwits.com"},
            "symbols": [{"id": i + 1, "symbol": s, "title": f"{s} Inc."} for i, s in enumerate(symbols)],
            "entities": {"sentiment": {"basic": sentiment} if sentiment else None},
        }
        with self.lock:
            for s in symbols:
                self.messages.setdefault(s.upper(), {})[msg_id] = msg
        return msg

    def _answer(self, symbol: str, query: dict) -> tuple[int, dict, bytes]:
        with self.lock:
            script = self.faults.get(symbol)
            fault = script.pop(0) if script else None
            known = symbol in self.messages
            msgs = dict(self.messages.get(symbol, {}))
        if self.refuse_all or isinstance(fault, BotCheck):
            return 403, {"Content-Type": "text/html"}, b"<html><body>Just a moment... checking your browser</body></html>"
        if isinstance(fault, RateLimited):
            body = {"response": {"status": 429}, "errors": [{"message": "Rate limit exceeded. Client may not make more than 200 requests an hour."}]}
            return 429, {"Content-Type": "application/json", "Retry-After": fault.retry_after}, json.dumps(body).encode()
        if isinstance(fault, Status):
            return fault.code, {"Content-Type": "application/json"}, json.dumps({"response": {"status": fault.code}, "errors": [{"message": "Something went wrong"}]}).encode()
        if not known:
            return 404, {"Content-Type": "application/json"}, json.dumps({"response": {"status": 404}, "errors": [{"message": "Symbol not found"}]}).encode()
        since = int(query["since"][0]) if "since" in query else None
        max_id = int(query["max"][0]) if "max" in query else None
        ids = sorted((i for i in msgs if (since is None or i > since) and (max_id is None or i <= max_id)), reverse=True)
        page = ids[: self.page_size]
        body = {
            "response": {"status": 200},
            "symbol": {"id": 1, "symbol": symbol, "title": f"{symbol} Inc."},
            "cursor": {"more": len(ids) > len(page), "since": page[0] if page else since, "max": page[-1] if page else max_id},
            "messages": [msgs[i] for i in page],
        }
        return 200, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body).encode()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with server.lock:
                    server._open.add(self.connection)

            def finish(self) -> None:
                with server.lock:
                    server._open.discard(self.connection)
                super().finish()

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                prefix, suffix = "/api/2/streams/symbol/", ".json"
                if not (parts.path.startswith(prefix) and parts.path.endswith(suffix)):
                    status, headers, body = 404, {"Content-Type": "application/json"}, b'{"response": {"status": 404}}'
                    symbol = ""
                else:
                    symbol = parts.path[len(prefix):-len(suffix)].upper()
                    status, headers, body = server._answer(symbol, parse_qs(parts.query))
                with server.lock:
                    server.requests.append((symbol, parse_qs(parts.query), status))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
