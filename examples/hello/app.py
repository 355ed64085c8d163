"""The smallest Cloud Foundry app: answers every request with who served it.

Standard library only, as the Python buildpack expects; listens on $PORT like any CF app.
"""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

APPLICATION = json.loads(os.environ.get("VCAP_APPLICATION", "{}"))
INDEX = APPLICATION.get("instance_index", 0)
INSTANCE = APPLICATION.get("instance_id", "local")


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"Hello from {APPLICATION.get('application_name', 'hello')} instance {INDEX} ({INSTANCE})\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Hello).serve_forever()
