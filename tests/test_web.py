"""The review page in a real headless Chromium, on a state directory made by replaying the demo with clips
on; and its guards, over plain HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, need

from detector import history

DEMO = ROOT / "detector" / "data" / "demo.flac"
# the pictures in reports/ are remade with BARKCRY_SCREENSHOTS=1; otherwise they go to a temporary folder
SHOTS = ROOT / "reports" if os.environ.get("BARKCRY_SCREENSHOTS") else Path(tempfile.mkdtemp(prefix="barkcry-shots-"))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(tmp: Path, **web) -> Path:
    p = tmp / "config.yaml"
    p.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp / "state"),
                "mqtt": {"enabled": False},
                "clips": {"enabled": True, "dir": str(tmp / "state" / "clips")},
                "web": {"port": free_port()} | web,
            }
        )
    )
    return p


def start_web(cfg: Path, *args: str) -> tuple[subprocess.Popen, str]:
    port = yaml.safe_load(cfg.read_text())["web"]["port"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "detector", "--config", str(cfg), "web", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/static/style.css", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read()) from None
            time.sleep(0.1)
    raise RuntimeError("the web server did not start")


@pytest.fixture(scope="module")
def site(tmp_path_factory, shipped_model):
    need(
        shutil.which("chromium") is not None and shutil.which("chromedriver") is not None,
        "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
    )
    tmp = tmp_path_factory.mktemp("web")
    cfg = config(tmp)
    r = subprocess.run(
        [sys.executable, "-m", "detector", "--config", str(cfg), "run", "--input", str(DEMO), "--fast"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    proc, url = start_web(cfg)
    yield tmp, cfg, url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1200,1400",
        "--autoplay-policy=no-user-gesture-required",
    ):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    yield driver
    driver.quit()


def wait(pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if v := pred():
            return v
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_events_page_lists_plays_and_draws_the_demos_events(site, browser):
    from selenium.webdriver.common.by import By

    tmp, cfg, url = site
    browser.get(url + "/")
    rows = wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".event"))
    db_ids = [r.id for r in history.select(history.connect(tmp / "state" / "events.db"))]
    assert sorted(r.get_attribute("data-id") for r in rows) == sorted(db_ids) and len(rows) == 3
    assert [r.find_element(By.CSS_SELECTOR, ".label").text.lower() for r in rows] == [
        "cry",
        "bark",
        "bark",
    ]  # newest first
    # the audio plays: its duration becomes a number
    duration = wait(
        lambda: browser.execute_script(
            "const a = document.querySelector('audio'); return isFinite(a.duration) && a.duration > 0 ? a.duration : 0"
        )
    )
    assert 1.0 < duration <= 31
    # the spectrogram is drawn: pixels of more than one colour
    wait(lambda: browser.execute_script("return document.querySelector('canvas.spectrogram').dataset.drawn"))
    colours = browser.execute_script("""
        const c = document.querySelector('canvas.spectrogram'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = new Set(); for (let i = 0; i < d.length; i += 4 * 97) seen.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]);
        return seen.size;""")
    assert colours > 20
    browser.save_screenshot(str(SHOTS / "web_events.png"))


def test_a_false_alarm_click_marks_the_row_and_the_database(site, browser):
    from selenium.webdriver.common.by import By

    tmp, cfg, url = site
    browser.get(url + "/")
    row = wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".event"))[0]
    eid = row.get_attribute("data-id")
    label = row.find_element(By.CSS_SELECTOR, ".label").text.lower()
    box = lambda: browser.find_element(By.CSS_SELECTOR, f'#verifier [data-label="{label}"]').text  # noqa: E731
    assert wait(box).startswith(f"{label}: 0 false alarm")
    row.find_element(By.CSS_SELECTOR, "button.false_alarm").click()
    wait(lambda: "false_alarm" in row.get_attribute("class"))
    assert row.find_element(By.CSS_SELECTOR, ".verdict").text == "false alarm"
    db = history.connect(tmp / "state" / "events.db")
    assert db.execute("SELECT verdict, verdict_from FROM events WHERE id = ?", (eid,)).fetchone() == (
        "false_alarm",
        "web",
    )
    wait(lambda: box().startswith(f"{label}: 1 false alarm"))
    row.find_element(By.CSS_SELECTOR, "button.undo").click()
    wait(lambda: db.execute("SELECT verdict FROM events WHERE id = ?", (eid,)).fetchone() == (None,))


@pytest.mark.slow  # the demo in real time
def test_the_live_page_moves_while_a_replay_runs(site, browser):
    tmp, cfg, url = site
    replay = subprocess.Popen(
        [sys.executable, "-m", "detector", "--config", str(cfg), "run", "--input", str(DEMO)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # real time
    try:
        wait(lambda: (tmp / "state" / "live.sock").exists())
        browser.get(url + "/live")
        first = wait(lambda: browser.execute_script("return window.barkcryLive && window.barkcryLive.windows"))
        time.sleep(2.0)
        later = browser.execute_script("return window.barkcryLive.windows")
        assert later >= first + 4, (first, later)  # about 4 windows a second
        why = browser.execute_script("return document.getElementById('why').textContent")
        assert "bark: score" in why and "cry: score" in why
        text = lambda: browser.execute_script("return document.getElementById('health').textContent")  # noqa: E731
        health = wait(lambda: "service: running" in text() and text())
        assert "no problem" in health, health
        time.sleep(6)  # into the first bark, for the picture
        browser.save_screenshot(str(SHOTS / "web_live.png"))
    finally:
        replay.terminate()
        replay.wait(20)


def test_guards_refuse_what_they_should(site, tmp_path):
    _, _, url = site

    def status(path, method="GET", headers=None, data=None):
        req = urllib.request.Request(url + path, method=method, headers=headers or {}, data=data)
        try:
            return urllib.request.urlopen(req, timeout=10).status
        except urllib.error.HTTPError as e:
            return e.code

    events = json.loads(urllib.request.urlopen(url + "/api/events", timeout=10).read())
    eid = events[0]["id"]
    assert status(f"/api/events/{eid}/clip", headers={"Range": "bytes=0-99"}) == 206  # seeking works
    assert (
        status(
            f"/api/events/{eid}/verdict", "POST", {"Content-Type": "application/json"}, b'{"verdict": "false_alarm"}'
        )
        == 403
    )  # no CSRF token
    for path in (
        "/static/../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/api/events/..%2F..%2Fetc%2Fpasswd/clip",
        "/api/events/%2Fetc%2Fpasswd/clip",
        "//etc/passwd",
    ):
        assert status(path) == 404, path

    # another address than loopback: refused without a password; with one, a wrong token gets 401
    bare = config(tmp_path, host="0.0.0.0")
    r = subprocess.run(
        [sys.executable, "-m", "detector", "--config", str(bare), "web"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "web.host" in r.stderr and "password" in r.stderr, r.stderr
    locked = config(tmp_path, host="0.0.0.0", password="open sesame")
    proc, url2 = start_web(locked)
    try:
        assert status_at(url2, "/api/events", {"Authorization": "Bearer wrong"}) == 401
        assert status_at(url2, "/api/events", {"Cookie": "barkcry_session=forged"}) == 401
        assert status_at(url2, "/api/events", {"Authorization": "Bearer open sesame"}) == 200
        login = urllib.request.Request(
            url2 + "/login",
            data=b"password=open+sesame",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        cookie = NoRedirect().open(login).headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie, cookie
        session = cookie.split(";")[0]
        assert status_at(url2, "/api/events", {"Cookie": session}) == 200
    finally:
        proc.terminate()
        proc.wait(10)


def status_at(url, path, headers):
    try:
        return urllib.request.urlopen(urllib.request.Request(url + path, headers=headers), timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code


class NoRedirect(urllib.request.OpenerDirector):
    """Opens a request and returns the response as it is, a redirect included (for its Set-Cookie)."""

    def __init__(self) -> None:
        super().__init__()
        self.add_handler(urllib.request.HTTPHandler())

    def open(self, req, *a, **kw):  # noqa: A003
        return super().open(req, *a, **kw)
