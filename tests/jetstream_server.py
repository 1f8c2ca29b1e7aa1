"""A real WebSocket server on 127.0.0.1 speaking Jetstream (Bluesky's JSON firehose), with scripted faults.

Not a mock of the client: finterm's `websockets` client connects over TCP to
`ws://127.0.0.1:PORT/subscribe?wantedCollections=...&cursor=...` and gets what Jetstream
sends — one JSON text frame per event (commits of the wanted collections, identity and
account events always), replayed from `cursor` (a `time_us`, inclusive) when one is given.

The server holds a timeline of events, each with its `time_us` (`base_us + i * step_us`).
Each connection takes the next entry of `script`: `Conn(count, then)` sends up to `count`
events from the cursor on (all when None; `pace_s` apart), then `then`: "hold" (stay open, quiet, until the
client leaves or the server stops), "drop" (cut the TCP connection: no close frame) or
"close" (a clean close). When the script is used up, connections send everything and hold.
A timeline entry may be raw bytes (a malformed frame): it is sent as is.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

__all__ = ["JetstreamServer", "Conn", "post", "tag_facet", "delete", "identity", "account", "like", "update", "raw"]

DID = "did:plc:abcdefghijklmnopqrstuvwx"
#: The timeline's first time_us: 2026-11-25T10:00:00Z, the posts' default createdAt.
BASE_US = 1_795_600_800_000_000


@dataclass
class Conn:
    count: int | None = None
    then: str = "hold"
    #: Seconds between frames (0: as fast as the socket takes them).
    pace_s: float = 0.0


# -- events (their time_us is set by the server's timeline) -------------------------------------
def post(rkey: str, text: str, did: str = DID, langs=("en",), facets=None, created_at: str = "2026-11-25T10:00:00.000Z") -> dict:
    record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": created_at}
    if langs is not None:
        record["langs"] = list(langs)
    if facets is not None:
        record["facets"] = facets
    return {"did": did, "kind": "commit",
            "commit": {"rev": "3l" + rkey, "operation": "create", "collection": "app.bsky.feed.post",
                       "rkey": rkey, "record": record, "cid": "bafyrei" + rkey}}


def tag_facet(tag: str, start: int = 0, end: int = 1) -> dict:
    return {"index": {"byteStart": start, "byteEnd": end}, "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}]}


def delete(rkey: str, did: str = DID) -> dict:
    return {"did": did, "kind": "commit",
            "commit": {"rev": "3ld" + rkey, "operation": "delete", "collection": "app.bsky.feed.post", "rkey": rkey}}


def update(rkey: str, text: str, did: str = DID) -> dict:
    ev = post(rkey, text, did)
    ev["commit"]["operation"] = "update"
    return ev


def like(rkey: str, did: str = DID) -> dict:
    return {"did": did, "kind": "commit",
            "commit": {"rev": "3lk" + rkey, "operation": "create", "collection": "app.bsky.feed.like", "rkey": rkey,
                       "record": {"$type": "app.bsky.feed.like", "subject": {"uri": f"at://{did}/app.bsky.feed.post/x"}}}}


def identity(did: str = DID, handle: str = "trader.bsky.social") -> dict:
    return {"did": did, "kind": "identity", "identity": {"did": did, "handle": handle, "seq": 1, "time": "2026-11-25T10:00:00Z"}}


def account(did: str = DID) -> dict:
    return {"did": did, "kind": "account", "account": {"active": True, "did": did, "seq": 2, "time": "2026-11-25T10:00:00Z"}}


def raw(data: bytes) -> bytes:
    return data


class JetstreamServer:
    """`with JetstreamServer(events, script) as js:`; `js.url` goes in $FINTERM_BLUESKY_URL."""

    def __init__(self, events: list, script: list[Conn] | None = None, base_us: int = BASE_US,
                 step_us: int = 100_000) -> None:
        self.timeline: list[tuple[int, bytes, str | None]] = []
        for i, ev in enumerate(events):
            t = base_us + i * step_us
            if isinstance(ev, bytes):
                self.timeline.append((t, ev, None))
            else:
                ev = dict(ev, time_us=t)
                self.timeline.append((t, json.dumps(ev).encode(), (ev.get("commit") or {}).get("collection")))
        self.script = list(script or [])
        #: One entry per connection: its query parameters.
        self.connections: list[dict[str, list[str]]] = []
        #: time_us of the frames sent, per connection.
        self.sent: list[list[int]] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        quiet = logging.getLogger("tests.jetstream_server")
        quiet.setLevel(logging.CRITICAL)
        self._server = serve(self._handle, "127.0.0.1", 0, logger=quiet, compression=None)
        self.port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/subscribe"
        self._thread = threading.Thread(target=self._server.serve_forever, name="jetstream-server", daemon=True)

    def __enter__(self) -> "JetstreamServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving (open connections are cut): a source then sees the service gone."""
        self.stopping.set()
        self._server.shutdown()

    def _handle(self, conn) -> None:
        query = parse_qs(urlsplit(conn.request.path).query)
        with self.lock:
            self.connections.append(query)
            self.sent.append([])
            sent = self.sent[-1]
            step = self.script.pop(0) if self.script else Conn()
        wanted = set(query.get("wantedCollections", []))
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        n = 0
        try:
            for t, data, collection in self.timeline:
                if cursor is not None and t < cursor:
                    continue
                if step.count is not None and n >= step.count:
                    break
                if wanted and collection is not None and collection not in wanted:
                    continue
                if step.pace_s and self.stopping.wait(step.pace_s):
                    return
                conn.send(data.decode("utf-8", "replace"))
                sent.append(t)
                n += 1
            if step.then == "drop":
                conn.socket.shutdown(socket.SHUT_RDWR)
                conn.socket.close()
                return
            if step.then == "close":
                conn.close()
                return
            while not self.stopping.is_set():  # hold: quiet until the client leaves
                try:
                    conn.recv(timeout=0.1)
                except TimeoutError:
                    continue
        except (ConnectionClosed, OSError):
            return
