#!/usr/bin/env python3
"""A minimal schema registry for the tests: the two calls of the Confluent
Schema Registry REST API that Carrot makes (POST /subjects/{s}/versions,
GET /schemas/ids/{id}), in memory. No Confluent-compatible registry can be
installed from this project's package sources, so the client is tested
against this; its replies follow the Confluent documentation."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

schemas = []  # index + 1 is the id
subjects = {}


def canonical(text):
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        parts = self.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions":
            return self.reply(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            text = canonical(body["schema"])
        except (KeyError, ValueError):
            return self.reply(422, {"error_code": 42201, "message": "Invalid schema"})
        if text not in schemas:
            schemas.append(text)
        sid = schemas.index(text) + 1
        subjects.setdefault(parts[1], []).append(sid)
        self.reply(200, {"id": sid})

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            sid = int(parts[2])
            if 1 <= sid <= len(schemas):
                return self.reply(200, {"schema": schemas[sid - 1]})
            return self.reply(404, {"error_code": 40403, "message": "Schema %d not found" % sid})
        self.reply(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
