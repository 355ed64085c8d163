"""A Cloud Foundry app that keeps notes in its bound PostgreSQL service: reads the
credentials from VCAP_SERVICES at each request, as an app must (they change when it is
rebound), and talks to PostgreSQL with pg8000, a pure-Python client the test vendors into
this directory (the stemcell's python3 has only the standard library).

  GET /write?note=TEXT   inserts a row (the table is made on first use)  -> 200 "written"
  GET /read              the notes, one per line                         -> 200
Failures answer 500 with the error's class and message; the credentials are never shown.
"""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pg8000.native


def credentials() -> dict:
    services = json.loads(os.environ.get("VCAP_SERVICES") or "{}")
    bound = services.get("postgresql") or []
    if not bound:
        raise LookupError("no postgresql service is bound (VCAP_SERVICES)")
    return bound[0]["credentials"]


def connect() -> pg8000.native.Connection:
    c = credentials()
    return pg8000.native.Connection(c["username"], host=c["hostname"], port=int(c["port"]), database=c["name"],
                                    password=c["password"], timeout=10)


class Notes(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        try:
            conn = connect()
            try:
                conn.run("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, note text NOT NULL)")
                if url.path == "/write":
                    conn.run("INSERT INTO notes (note) VALUES (:note)", note=parse_qs(url.query)["note"][0])
                    body, status = "written\n", 200
                elif url.path == "/read":
                    body, status = "".join(f"{row[0]}\n" for row in conn.run("SELECT note FROM notes ORDER BY id")), 200
                else:
                    body, status = "not found\n", 404
            finally:
                conn.close()
        except Exception as error:  # noqa: BLE001  (any failure is the answer; no credential is in it)
            body, status = f"{type(error).__name__}: {error}\n", 500
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Notes).serve_forever()
