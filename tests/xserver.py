"""A real HTTP server on 127.0.0.1 speaking the parts of X API v2 finterm uses, with scripted faults.

It is not a mock of tweepy: the real client connects over TCP and gets what X sends —
chunked JSON lines with "\\r\\n" keep-alives on GET /2/tweets/search/stream, tagged rules on
/2/tweets/search/stream/rules, newest-first pages with since_id/next_token on
/2/tweets/search/recent, only the fields and expansions asked for, bearer-token checks,
x-rate-limit-* headers, and X's problem JSON on errors.

Each stream connection takes the next entry of `stream_script`: a `Stream([...actions])`
(HTTP 200, then the actions: tweets by id, garbled lines, keep-alives, a dropped connection,
a clean end, or holding the connection open) or an `Error(status)`. When the script is
used up, further connections hold open with keep-alives. Search requests take the next
entry of `search_script` (an Error, or None for a normal answer).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = ["XServer", "Stream", "Error", "tweet", "garbled", "keepalive", "drop", "drop_mid_line", "end", "hold"]


# -- the script ------------------------------------------------------------------------------
def tweet(tweet_id: str) -> tuple:
    """Send a published tweet (only if one of the current rules matches it, as X does)."""
    return ("tweet", str(tweet_id))


def garbled(line: bytes = b'{"data": {"id": "9", "text": "cut') -> tuple:
    return ("raw", line)


def keepalive() -> tuple:
    return ("raw", b"")


def drop() -> tuple:
    """Cut the TCP connection mid-stream (no terminating chunk)."""
    return ("drop",)


def drop_mid_line(tweet_id: str) -> tuple:
    """Send the first half of a tweet's line, then cut the connection."""
    return ("half", str(tweet_id))


def end() -> tuple:
    """End the response cleanly (terminating chunk), as X does on an operational disconnect."""
    return ("end",)


def hold() -> tuple:
    """Keep the connection open with keep-alives until the client leaves or the server stops."""
    return ("hold",)


@dataclass
class Stream:
    actions: list = field(default_factory=list)


@dataclass
class Error:
    status: int
    headers: dict = field(default_factory=dict)
    body: dict | None = None


PROBLEMS = {
    401: {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
    403: {
        "client_id": "12345",
        "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and "
                  "tokens from a Twitter developer App that is attached to a Project.",
        "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
        "title": "Client Forbidden",
        "required_enrollment": "Appropriate Level of API Access",
        "reason": "client-not-enrolled",
        "type": "https://api.twitter.com/2/problems/client-forbidden",
    },
    429: {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
    503: {"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank", "status": 503},
}


def rule_matches(value: str, text: str) -> bool:
    """A small evaluator for the rules finterm writes: any positive term (cashtag or word) matches."""
    terms = [t for t in value.replace("(", " ").replace(")", " ").split()
             if t != "OR" and not t.startswith("-") and ":" not in t]
    for term in terms:
        word = re.escape(term.strip('"'))
        if re.search(rf"(?<![\w$]){word}(?![\w])", text, re.IGNORECASE):
            return True
    return False


class XServer:
    """Start with `with XServer(token=...) as server:`; `server.base_url` is the api_base."""

    def __init__(self, token: str = "test-token", stream_script=None, search_script=None,
                 forbidden=(), keepalive_s: float = 0.05, rate_limit_remaining: int = 59,
                 rules_delay_s: float = 0.0) -> None:
        self.token = token
        self.stream_script = list(stream_script or [])
        self.search_script = list(search_script or [])
        #: Endpoints that answer 403 as on an access level without them: "stream", "rules", "search".
        self.forbidden = set(forbidden)
        self.keepalive_s = keepalive_s
        self.rate_limit_remaining = rate_limit_remaining
        #: How long the rules endpoints take to answer (to stop a run in the middle of a sync).
        self.rules_delay_s = rules_delay_s
        self.tweets: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.rules: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.stream_connections = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._next_rule_id = 1000
        self._httpd: ThreadingHTTPServer | None = None

    # -- setup ------------------------------------------------------------------------------
    def publish(self, tweet_id, text, username="trader", created_at="2026-11-25T10:00:00.000Z",
                lang="en", author_id=None, long_text=None) -> dict:
        """Store a tweet (as X would hold it, every field); streams and search serve it by id."""
        tweet_id = str(tweet_id)
        author_id = str(author_id or (abs(hash(username)) % 10**9))
        self.users[author_id] = {"id": author_id, "username": username, "name": username.title()}
        full = long_text or text
        obj = {
            "id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id], "author_id": author_id,
            "created_at": created_at, "lang": lang, "entities": _entities(text),
        }
        if long_text:
            obj["note_tweet"] = {"text": long_text, "entities": _entities(long_text)}
        obj["_match_text"] = full
        with self.lock:
            self.tweets[tweet_id] = obj
        return obj

    def add_rule(self, value: str, tag: str | None = None) -> str:
        """A rule put there by someone else (or by an earlier run)."""
        with self.lock:
            return self._add_rule(value, tag)

    def _add_rule(self, value, tag):
        self._next_rule_id += 1
        rid = str(self._next_rule_id)
        self.rules[rid] = {"id": rid, "value": value, **({"tag": tag} if tag else {})}
        return rid

    def requests_to(self, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "XServer":
        server = self

        class Handler(_Handler):
            x = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         name="xserver", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- rendering --------------------------------------------------------------------------
    def render(self, obj: dict, params: dict) -> tuple[dict, dict]:
        """The tweet object and includes X would send for these request parameters."""
        fields = set(_csv(params.get("tweet.fields")))
        data = {k: v for k, v in obj.items() if k in ("id", "text", "edit_history_tweet_ids") or k in fields}
        includes = {}
        if "author_id" in _csv(params.get("expansions")):
            data["author_id"] = obj["author_id"]
            user_fields = set(_csv(params.get("user.fields"))) | {"id", "name", "username"}
            user = self.users[obj["author_id"]]
            includes["users"] = [{k: v for k, v in user.items() if k in user_fields}]
        return data, includes

    def matching_rules(self, obj: dict) -> list[dict]:
        with self.lock:
            rules = list(self.rules.values())
        return [{"id": r["id"], **({"tag": r["tag"]} if "tag" in r else {})}
                for r in rules if rule_matches(r["value"], obj["_match_text"])]


def _entities(text: str) -> dict:
    tags = [{"start": m.start(), "end": m.end(), "tag": m.group(1)}
            for m in re.finditer(r"(?<![\w$])\$([A-Za-z]{1,6}(?:\.[A-Za-z])?)(?![\w])", text)]
    return {"cashtags": tags} if tags else {}


def _csv(value) -> list[str]:
    return [v for v in (value or "").split(",") if v]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    x: XServer

    def log_message(self, *args) -> None:  # quiet
        pass

    # -- plumbing ---------------------------------------------------------------------------
    def _params(self) -> dict:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw else None

    def _json(self, status: int, obj, headers: dict | None = None) -> None:
        raw = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, err: Error) -> None:
        body = err.body or PROBLEMS.get(err.status) or {"title": "Error", "status": err.status}
        headers = dict(err.headers)
        if err.status == 429:
            headers.setdefault("x-rate-limit-limit", 50)
            headers.setdefault("x-rate-limit-remaining", 0)
        self._json(err.status, body, headers)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.x.token}":
            return True
        self._error(Error(401))
        return False

    def _record(self, body=None) -> None:
        with self.x.lock:
            self.x.requests.append({"method": self.command, "path": urlsplit(self.path).path,
                                    "params": self._params(), "body": body,
                                    "authorization": self.headers.get("Authorization"), "at": time.time()})

    # -- routes -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._record()
        if not self._authorized():
            return
        path = urlsplit(self.path).path
        if path == "/2/tweets/search/stream/rules":
            self._get_rules()
        elif path == "/2/tweets/search/stream":
            self._stream()
        elif path == "/2/tweets/search/recent":
            self._search()
        else:
            self._json(404, {"title": "Not Found Error", "detail": f"no route {path}"})

    def do_POST(self) -> None:
        body = self._body()
        self._record(body)
        if not self._authorized():
            return
        if urlsplit(self.path).path != "/2/tweets/search/stream/rules":
            self._json(404, {"title": "Not Found Error"})
            return
        if "rules" in self.x.forbidden:
            self._error(Error(403))
            return
        self._post_rules(body or {})

    def _get_rules(self) -> None:
        time.sleep(self.x.rules_delay_s)
        if "rules" in self.x.forbidden:
            self._error(Error(403))
            return
        with self.x.lock:
            rules = list(self.x.rules.values())
        meta = {"sent": _now(), "result_count": len(rules)}
        self._json(200, {"data": rules, "meta": meta} if rules else {"meta": meta})

    def _post_rules(self, body: dict) -> None:
        x = self.x
        if "delete" in body:
            ids = [str(i) for i in body["delete"].get("ids", [])]
            with x.lock:
                deleted = [i for i in ids if x.rules.pop(i, None) is not None]
            self._json(200, {"meta": {"sent": _now(), "summary": {"deleted": len(deleted),
                                                                  "not_deleted": len(ids) - len(deleted)}}})
            return
        created, errors = [], []
        with x.lock:
            for rule in body.get("add", []):
                value, tag = rule.get("value", ""), rule.get("tag")
                dup = next((r for r in x.rules.values() if r["value"] == value), None)
                if dup is not None:
                    errors.append({"value": value, "id": dup["id"], "title": "DuplicateRule",
                                   "type": "https://api.twitter.com/2/problems/duplicate-rules"})
                elif not value or len(value) > 512:
                    errors.append({"value": value, "title": "Invalid Request",
                                   "details": ["Rule length exceeds 512 characters"],
                                   "type": "https://api.twitter.com/2/problems/invalid-rules"})
                else:
                    rid = x._add_rule(value, tag)
                    created.append(dict(x.rules[rid]))
        out = {"meta": {"sent": _now(), "summary": {"created": len(created), "not_created": len(errors),
                                                    "valid": len(created), "invalid": len(errors)}}}
        if created:
            out["data"] = created
        if errors:
            out["errors"] = errors
        self._json(201 if created else 200, out)

    def _stream(self) -> None:
        x = self.x
        with x.lock:
            x.stream_connections += 1
            plan = x.stream_script.pop(0) if x.stream_script else Stream([hold()])
        if "stream" in x.forbidden:
            plan = Error(403)
        if isinstance(plan, Error):
            self._error(plan)
            return
        params = self._params()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for action in plan.actions:
                kind = action[0]
                if kind == "tweet":
                    line = self._tweet_line(action[1], params)
                    if line is not None:
                        self._chunk(line + b"\r\n")
                elif kind == "raw":
                    self._chunk(action[1] + b"\r\n")
                elif kind == "half":
                    line = self._tweet_line(action[1], params) or b"{}"
                    self._chunk(line[: len(line) // 2])
                    self._cut()
                    return
                elif kind == "drop":
                    self._cut()
                    return
                elif kind == "end":
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
                elif kind == "hold":
                    while not x.stopping.wait(x.keepalive_s):
                        self._chunk(b"\r\n")
                    self._cut()
                    return
            # Script done without an ending: keep the connection open as X does.
            while not x.stopping.wait(x.keepalive_s):
                self._chunk(b"\r\n")
            self._cut()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            self.close_connection = True

    def _tweet_line(self, tweet_id: str, params: dict) -> bytes | None:
        with self.x.lock:
            obj = self.x.tweets[tweet_id]
        matching = self.x.matching_rules(obj)
        if not matching:
            return None
        data, includes = self.x.render(obj, params)
        msg = {"data": data, "matching_rules": matching}
        if includes:
            msg["includes"] = includes
        return json.dumps(msg, ensure_ascii=False).encode("utf-8")

    def _chunk(self, payload: bytes) -> None:
        self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()

    def _cut(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _search(self) -> None:
        x = self.x
        with x.lock:
            fault = x.search_script.pop(0) if x.search_script else None
        if "search" in x.forbidden:
            fault = Error(403)
        if fault is not None:
            self._error(fault)
            return
        params = self._params()
        query = params.get("query", "")
        since = int(params.get("since_id") or 0)
        size = max(10, min(100, int(params.get("max_results") or 10)))
        offset = int(params.get("next_token") or 0)
        with x.lock:
            hits = sorted((t for t in x.tweets.values() if int(t["id"]) > since and rule_matches(query, t["_match_text"])),
                          key=lambda t: int(t["id"]), reverse=True)
        page = hits[offset: offset + size]
        headers = {"x-rate-limit-limit": 60, "x-rate-limit-remaining": x.rate_limit_remaining,
                   "x-rate-limit-reset": int(time.time()) + 900}
        meta = {"result_count": len(page)}
        if not page:
            self._json(200, {"meta": meta}, headers)
            return
        meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
        if offset + size < len(hits):
            meta["next_token"] = str(offset + size)
        data, users = [], {}
        for obj in page:
            d, inc = x.render(obj, params)
            data.append(d)
            for u in inc.get("users", []):
                users[u["id"]] = u
        body = {"data": data, "meta": meta}
        if users:
            body["includes"] = {"users": list(users.values())}
        self._json(200, body, headers)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
