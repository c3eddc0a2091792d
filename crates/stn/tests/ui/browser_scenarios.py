"""The web UI in a real browser (Debian's Chromium driven by Playwright).

Run by crates/stn/tests/ui_browser.rs against real `stn serve` processes:
    python browser_scenarios.py CONFIG.json
CONFIG names the servers, the agents, the API key and where output goes.
Prints one line per scenario; writes RESULT facts to config["result"] for the
Rust side to compare (TXIDs). Exits non-zero on the first failed check.
"""

import http.server
import json
import sys
import threading
import time

from playwright.sync_api import sync_playwright

CONFIG = json.load(open(sys.argv[1]))
BASE = CONFIG["base"]
OUT = CONFIG["out_dir"]
RESULT = {}
HOSTILE = ["<script>", "<img", "javascript:"]


def check(ok, message):
    if not ok:
        raise AssertionError(message)


class Watch:
    """Everything that must stay silent: dialogs, CSP violations, requests off 127.0.0.1."""

    def __init__(self, page):
        self.dialogs, self.failed, self.outside = [], [], []
        page.on("dialog", self._dialog)
        page.on("requestfailed", lambda r: self.failed.append(r.url))
        page.on("request", self._request)
        # Init scripts run before the page's own and are not subject to its CSP.
        page.add_init_script(
            "window.__csp = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _request(self, request):
        url = request.url
        if not (url.startswith("http://127.0.0.1") or url.startswith("data:")):
            self.outside.append(url)

    def assert_quiet(self, page, where):
        csp = page.evaluate("window.__csp || []")
        check(not self.dialogs, f"{where}: a dialog opened: {self.dialogs}")
        check(not csp, f"{where}: CSP violations: {csp}")
        check(not self.outside, f"{where}: requests left 127.0.0.1: {self.outside}")


def axe_and_labels(page, where):
    # axe-core came in as an init script (see `screenshots`): a script tag
    # would be inline code, which the page's CSP rightly blocks.
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} x{len(v['nodes'])}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    check(not bad, f"{where}: axe-core serious/critical violations: {bad}")
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, textarea'))
            .filter(e => e.type !== 'hidden')
            .filter(e => !(e.id && document.querySelector(`label[for="${e.id}"]`))
                         && !e.getAttribute('aria-label') && !e.closest('label'))
            .map(e => e.name || e.outerHTML.slice(0, 60))"""
    )
    check(not unlabelled, f"{where}: form controls without a label: {unlabelled}")


def screenshots(browser, storage, path, name):
    for width, height in ((390, 844), (1440, 900)):
        context = browser.new_context(viewport={"width": width, "height": height}, storage_state=storage)
        if width == 390:
            context.add_init_script(path=CONFIG["axe_js"])
        page = context.new_page()
        watch = Watch(page)
        page.goto(BASE + path)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=f"{OUT}/{name}-{width}.png", full_page=True)
        if width == 390:
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            check(overflow <= 0, f"{name} at 390 px scrolls sideways by {overflow} px")
            axe_and_labels(page, name)
        watch.assert_quiet(page, name)
        context.close()


def sign_in(page, key):
    page.goto(BASE + "/")
    check(page.url.endswith("/signin"), f"not sent to sign in: {page.url}")
    page.fill("#key", key)
    page.click("button[type=submit]")


def cross_origin_post(page, cookie_count_before):
    """A page on another loopback port posts a form to Station: refused."""
    target = BASE + "/keys"
    html = f"""<!doctype html><html lang="en"><body>
      <form id="f" method="post" action="{target}">
        <input type="hidden" name="csrf" value="guessed">
        <input type="hidden" name="user" value="{CONFIG['user']}">
        <input type="hidden" name="name" value="stolen">
        <button type="submit">go</button>
      </form></body></html>""".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://127.0.0.1:{server.server_port}/")
        with page.expect_response(lambda r: r.url == target and r.request.method == "POST") as info:
            page.click("button")
        status = info.value.status
        check(status == 403, f"a cross-origin form POST got {status}, not 403")
    finally:
        server.shutdown()


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CONFIG["chromium"], args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        watch = Watch(page)

        # Sign-in: a wrong key is refused, the right one lets in.
        sign_in(page, "stn_" + "0" * 64)
        check(page.url.endswith("/signin"), "a wrong key was let in")
        check("not valid" in page.inner_text("main"), "no refusal shown for a wrong key")
        page.fill("#key", CONFIG["key"])
        page.click("button[type=submit]")
        page.wait_for_url(BASE + "/")
        check("Overview" in page.inner_text("h1"), "not on the overview after sign-in")
        print("ok: sign in with a key; a wrong key is refused")

        # A run from the agent page, watched live while the model is still delayed.
        page.goto(f"{BASE}/agents/{CONFIG['reader_id']}")
        check(CONFIG["hostile_task"] not in page.content(), "hostile text reached the HTML unescaped")
        page.fill("#task", CONFIG["hostile_task"])
        page.click("form[action$='/run'] button[type=submit]")
        page.wait_for_url(f"{BASE}/runs/*")
        run_url = page.url
        loaded_at = page.evaluate("performance.timeOrigin")
        page.wait_for_selector("ol.steps li[data-kind=tool]", timeout=15000)
        status = page.get_attribute("[data-run-status]", "data-status")
        check(status in ("queued", "running"), f"the run had ended ({status}) before its tool step showed")
        check(page.evaluate("performance.timeOrigin") == loaded_at, "the page reloaded")
        print("ok: the tool-call step appeared without reload while the model was delayed")
        page.wait_for_selector("[data-run-status][data-status=completed]", timeout=30000)
        text = page.inner_text("main")
        for needle in HOSTILE:
            check(needle in text, f"hostile text `{needle}` is not visible as text on the run page")
        check(page.locator("main img").count() == 0, "an <img> from hostile text was created")
        watch.assert_quiet(page, "run page")
        print("ok: hostile task and tool output shown as text; no dialog, no CSP violation")

        # The hostile agent's description, on the agents list and its page.
        page.goto(BASE + "/agents")
        check(CONFIG["hostile_description"] in page.inner_text("main"), "hostile description not shown as text")
        check(page.locator("main img, main a[href^='javascript']").count() == 0, "hostile markup became elements")
        watch.assert_quiet(page, "agents")
        print("ok: hostile agent description shown as text")

        # Cancel another run.
        page.goto(f"{BASE}/agents/{CONFIG['slow_id']}")
        page.fill("#task", "wait for a minute")
        page.click("form[action$='/run'] button[type=submit]")
        page.wait_for_url(f"{BASE}/runs/*")
        page.wait_for_selector("[data-run-status][data-status=running]", timeout=15000)
        page.click("text=Cancel run")
        page.wait_for_selector("[data-run-status][data-status=cancelled]", timeout=15000)
        print("ok: cancelled a run from its page")

        # Run search and filters.
        page.goto(BASE + "/runs?q=" + "wait%20for")
        rows = page.locator("tbody tr").count()
        check(rows == 1, f"searching the task text found {rows} runs, not 1")
        page.goto(BASE + "/runs?status=cancelled")
        check(page.locator("tbody tr").count() == 1, "the status filter did not find the cancelled run")
        print("ok: runs search and status filter")

        # A cross-origin form is refused.
        cross_origin_post(page, 0)
        print("ok: a cross-origin form POST is refused")

        # Every page at both widths; axe and labels at phone width.
        storage = context.storage_state()
        for path, name in (
            ("/", "overview"),
            ("/agents", "agents"),
            (f"/agents/{CONFIG['reader_id']}", "agent"),
            ("/runs", "runs"),
            (run_url.removeprefix(BASE), "run"),
            ("/environments", "environments"),
            ("/data", "data"),
            ("/keys", "keys"),
        ):
            screenshots(browser, storage, path, name)
        print(f"ok: screenshots at 390 and 1440 px in {OUT}; no sideways scroll; axe-core clean; controls labelled")

        # Sign out ends the session: the old cookie no longer works.
        page.goto(BASE + "/")
        page.click("text=Sign out")
        page.wait_for_url(BASE + "/signin")
        replay = browser.new_context(storage_state=storage)
        old = replay.new_page()
        old.goto(BASE + "/runs")
        check(old.url.endswith("/signin"), "the signed-out session still opens pages")
        replay.close()
        print("ok: sign out ends the session")

        # The Data page of a replicated server (keyless loopback, its own database).
        if CONFIG.get("replicated_base"):
            data = browser.new_page()
            data.goto(CONFIG["replicated_base"] + "/data")
            RESULT["txid"] = int(data.inner_text("[data-fact=txid]"))
            RESULT["replica_url"] = data.get_attribute("tr[data-replica]", "data-replica")
            RESULT["durability"] = data.inner_text("[data-fact=durability]")
            data.screenshot(path=f"{OUT}/data-replicated-1440.png", full_page=True)
            # A write (through the API, as a program would) moves the TXID;
            # the page shows it, and the replica catching up (lag back to 0).
            made = data.request.post(
                CONFIG["replicated_base"] + "/api/v1/environments", data={"name": "after-write"}
            )
            check(made.status == 201, f"the write failed: {made.status} {made.text()}")
            deadline = time.time() + 20
            while True:
                data.reload()
                txid = int(data.inner_text("[data-fact=txid]"))
                lag = data.inner_text("[data-fact=lag-txids]").strip()
                if txid > RESULT["txid"] and lag == "0":
                    break
                check(time.time() < deadline, f"after a write the page shows TXID {txid}, lag {lag}")
                time.sleep(0.3)
            RESULT["txid_after"] = txid
            json.dump(RESULT, open(CONFIG["result"], "w"))
            print("ok: data page of the replicated server read")
        browser.close()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}")
        sys.exit(1)
