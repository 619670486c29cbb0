#!/usr/bin/env python3
"""Drive the StreamLog viewer in headless Chromium (docs/api/streamlog-viewer.md §5).

    sl_view_browser.py --url https://127.0.0.1:PORT --vkey V --other-vkey V2 \\
        --host web-2 --want-indexes 12,11,10 --tamper-index 11 --tamper-cmd 'CMD' \\
        --work DIR [--suite NAME]

Speaks the W3C WebDriver protocol to chromedriver with the standard library only
(urllib, json): starts chromedriver on a free port in a process group of its own,
opens the viewer, searches by host, checks the rows, opens an event and waits for
its badge, checks the consistency view, a wrong key and a key from the server;
then runs --tamper-cmd (which changes the event's entry in the store) and checks
that reopening the event says NOT VERIFIED with a tamper alarm. Prints one
"PASS|FAIL SUITE:name" line per check; exit 1 when any failed. Kills chromedriver
and the browser it started (the whole group) on every exit.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # W3C WebDriver §12: the element key
failed = 0
suite = "streamlog_viewer"


def report(name, good, detail=""):
    global failed
    print(("PASS " if good else "FAIL ") + suite + ":" + name +
          ("" if good or not detail else " (" + str(detail)[:300] + ")"), flush=True)
    if not good:
        failed += 1


class WebDriver:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port
        self.session = None

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as res:
                return json.load(res)["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s %s: %s" % (method, path, e.read()[:300])) from None

    def s(self, method, path, body=None):
        return self.call(method, "/session/%s%s" % (self.session, path), body)

    def start(self, work):
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": True,  # the viewer's certificate is self-signed
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                # root in a container: no sandbox; a closed network: nothing in the
                # background that would try to reach the internet
                "args": ["--headless=new", "--no-sandbox", "--ignore-certificate-errors",
                         "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                         "--disable-quic", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--user-data-dir=" + os.path.join(work, "chromium-profile")],
            },
        }}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def open(self, url):
        self.s("POST", "/url", {"url": url})

    def find_all(self, css):
        return [e[ELEMENT] for e in self.s("POST", "/elements",
                                           {"using": "css selector", "value": css})]

    def find(self, css):
        return self.s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def text(self, css):
        found = self.find_all(css)
        return self.s("GET", "/element/%s/text" % found[0]) if found else None

    def type(self, css, text):
        el = self.find(css)
        self.s("POST", "/element/%s/clear" % el, {})
        self.s("POST", "/element/%s/value" % el, {"text": text})

    def click(self, css):
        self.s("POST", "/element/%s/click" % self.find(css), {})

    def script(self, js, *args):
        return self.s("POST", "/execute/sync", {"script": js, "args": list(args)})

    def wait(self, what, fn, seconds=20):
        end = time.time() + seconds
        last = None
        while time.time() < end:
            try:
                last = fn()
                if last:
                    return last
            except RuntimeError as e:  # e.g. the element is not there yet
                last = e
            time.sleep(0.1)
        raise RuntimeError("timed out waiting for %s (last: %r)" % (what, last))

    def quit(self):
        if self.session:
            try:
                self.call("DELETE", "/session/" + self.session)
            except Exception:
                pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_driver(work):
    port = free_port()
    log = open(os.path.join(work, "chromedriver.log"), "w")
    proc = subprocess.Popen(["chromedriver", "--port=%d" % port], stdout=log, stderr=log,
                            start_new_session=True)
    with open(os.path.join(work, "chromedriver.pgid"), "w") as f:
        f.write(str(proc.pid))  # the test's trap kills this group if we are killed
    wd = WebDriver(port)
    end = time.time() + 20
    while time.time() < end:
        try:
            if wd.call("GET", "/status").get("ready"):
                return proc, wd
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError("chromedriver did not start")


def badge(wd, css, words):
    """Wait until the badge at css shows one of words; return its text."""
    return wd.wait(css + " in " + "/".join(words),
                   lambda: (lambda t: t if t in words else None)(wd.text(css)))


VERDICT = ("VERIFIED", "NOT VERIFIED")


def page_url(a, vkey, hash_=""):
    q = "/?vkey=" + urllib.parse.quote(vkey, safe="") if vkey else "/"
    return a.url + q + hash_


def search_and_open(wd, a, want):
    wd.open(page_url(a, a.vkey))
    report("browser_checkpoint_verified", badge(wd, "#cp-badge", VERDICT) == "VERIFIED",
           wd.text("#cp-reason"))
    report("browser_key_pinned", "pinned" in (wd.text("#key-source") or ""),
           wd.text("#key-source"))
    wd.type("#f-host", a.host)
    wd.click("#search")
    wd.wait("search results", lambda: (wd.text("#search-status") or "")[:1].isdigit())
    rows = wd.find_all("#results tbody tr")
    report("browser_search_rows", len(rows) == len(want),
           "%d rows, want %d: %s" % (len(rows), len(want), wd.text("#search-status")))
    first = [wd.text("#results tbody tr:nth-child(1) td:nth-child(%d)" % i) for i in (1, 3)]
    report("browser_search_cells", first == [str(want[0]), a.host], first)
    wd.click("#results tbody tr:nth-child(1)")
    verdict = badge(wd, "#ev-badge", VERDICT)
    report("browser_event_verified", verdict == "VERIFIED", wd.text("#ev-reason"))
    fields = wd.text("#ev-fields") or ""
    report("browser_event_fields", "where.host" in fields and a.host in fields, fields[:200])
    proof = wd.find_all("#ev-proof li")
    note = wd.text("#ev-note") or ""
    report("browser_event_proof_shown", len(proof) > 0 and "\u2014 " in note,
           "%d hashes; note %r" % (len(proof), note[:80]))


def consistency(wd):
    wd.click("#cons-reload")
    wd.wait("two checkpoints", lambda: len(wd.find_all("#cons-from option")) >= 2)
    sizes = wd.script("return Array.from(document.querySelectorAll('#cons-from option'))"
                      ".map(o => o.value)")
    # from the oldest to the newest (the page's defaults), then check
    wd.script("document.getElementById('cons-from').value = arguments[0];"
              "document.getElementById('cons-to').value = arguments[1];", sizes[-1], sizes[0])
    wd.click("#cons-check")
    verdict = badge(wd, "#cons-badge", ("CONSISTENT", "NOT CONSISTENT"))
    report("browser_consistency", verdict == "CONSISTENT" and sizes[-1] != sizes[0],
           "%s from %s to %s: %s" % (verdict, sizes[-1], sizes[0], wd.text("#cons-reason")))


def other_keys(wd, a, index):
    wd.open(page_url(a, a.other_vkey, "#event/%d" % index))
    verdict = badge(wd, "#ev-badge", VERDICT)
    reason = wd.text("#ev-reason") or ""
    report("browser_other_key_not_verified", verdict == "NOT VERIFIED" and "not signed" in reason,
           verdict + ": " + reason)
    report("browser_other_key_checkpoint", badge(wd, "#cp-badge", VERDICT) == "NOT VERIFIED")
    wd.open(page_url(a, None, "#event/%d" % index))
    verdict = badge(wd, "#ev-badge", VERDICT)
    warning = wd.text("#key-warning") or ""
    report("browser_server_key_warned", verdict == "VERIFIED" and "not pinned" in warning,
           verdict + ": " + warning)


def tampered(wd, a):
    out = subprocess.run(["bash", "-c", a.tamper_cmd], capture_output=True, text=True)
    report("tamper_store", out.returncode == 0, out.stderr)
    wd.open(page_url(a, a.vkey, "#event/%d" % a.tamper_index))
    wd.s("POST", "/refresh", {})
    verdict = badge(wd, "#ev-badge", VERDICT)
    reason = wd.text("#ev-reason") or ""
    report("browser_tampered_not_verified", verdict == "NOT VERIFIED" and "changed" in reason,
           verdict + ": " + reason)
    alarm = wd.wait("the alarm", lambda: wd.text("#cp-alarm"))
    report("browser_tamper_alarm_shown", alarm.startswith("TAMPER ALARM"), alarm)


def main():
    global suite
    p = argparse.ArgumentParser()
    for opt in ("url", "vkey", "other-vkey", "host", "want-indexes", "tamper-cmd", "work"):
        p.add_argument("--" + opt, required=True)
    p.add_argument("--tamper-index", type=int, required=True)
    p.add_argument("--suite", default=suite)
    a = p.parse_args()
    suite = a.suite
    want = [int(x) for x in a.want_indexes.split(",")]
    proc, wd = None, None
    try:
        proc, wd = start_driver(a.work)
        wd.start(a.work)
        report("browser_starts", True)
        search_and_open(wd, a, want)
        consistency(wd)
        other_keys(wd, a, want[0])
        tampered(wd, a)
    except Exception as e:  # one failure line that says where it stopped
        report("browser_run", False, "%s: %s" % (type(e).__name__, e))
    finally:
        if wd is not None:
            wd.quit()
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
