"""A real mosquitto broker on a free loopback port: plain, with a password file, or with TLS."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Broker:
    dir: Path
    port: int
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    proc: subprocess.Popen | None = None

    def conf(self) -> Path:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "user root",
            "persistence false",
            f"log_dest file {self.dir / 'mosquitto.log'}",
            "log_type all",
        ]
        if self.username:
            pw = self.dir / "passwd"
            pw.write_text("")
            subprocess.run(["mosquitto_passwd", "-b", str(pw), self.username, self.password], check=True)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines += ["allow_anonymous true"]
        if self.ca_file:
            lines += [
                f"cafile {self.ca_file}",
                f"certfile {self.dir / 'server.crt'}",
                f"keyfile {self.dir / 'server.key'}",
            ]
        p = self.dir / "mosquitto.conf"
        p.write_text("\n".join(lines) + "\n")
        return p

    def start(self) -> Broker:
        self.proc = subprocess.Popen(
            [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(self.conf())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)

    def client(self, client_id: str = "") -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if self.username:
            c.username_pw_set(self.username, self.password)
        if self.ca_file:
            c.tls_set(ca_certs=self.ca_file)
        return c

    def mqtt_config(self) -> dict:
        d = {
            "host": "localhost" if self.ca_file else "127.0.0.1",
            "port": self.port,
            "device_id": "testpi",
            "keepalive": 5,
        }
        if self.username:
            d |= {"username": self.username, "password": self.password}
        if self.ca_file:
            d |= {"tls": {"ca_file": self.ca_file}}
        return d


def make_tls(d: Path) -> str:
    """A self-signed CA and a server certificate for localhost, made with openssl."""

    def run(*a):
        subprocess.run(a, check=True, capture_output=True)

    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=barkcry test CA",
        "-keyout",
        str(d / "ca.key"),
        "-out",
        str(d / "ca.crt"),
    )
    run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        str(d / "server.key"),
        "-out",
        str(d / "server.csr"),
    )
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        str(d / "server.csr"),
        "-CA",
        str(d / "ca.crt"),
        "-CAkey",
        str(d / "ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        str(d / "server.crt"),
        "-extfile",
        str(d / "ext.cnf"),
    )
    return str(d / "ca.crt")


class Collector:
    """Subscribes to everything and records (topic, payload, retain)."""

    def __init__(self, broker: Broker, topic: str = "#") -> None:
        self.messages: list[tuple[str, str, bool]] = []
        self.c = broker.client()
        self.c.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload.decode(), bool(m.retain)))
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.c.connect("localhost" if broker.ca_file else "127.0.0.1", broker.port)
        self.c.loop_start()

    def wait_for(self, pred, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(self.messages):
                return True
            time.sleep(0.05)
        return pred(self.messages)

    def stop(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()
