"""Drives jobhost's web UI in headless Chromium through WebDriver (Selenium).

Usage: browser.py SCENARIO BASE_URL TOKEN SCREENSHOT_DIR [ARGS...]

Each scenario does what a person would, saves screenshots of the pages it
passes, and prints one JSON object of what it saw; the Rust integration
tests (tests/integration/ui.rs) start the real server, run this and assert
on that object.
"""

import json
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("JOBHOST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("JOBHOST_CHROMEDRIVER", "/usr/bin/chromedriver")


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1300",
    ]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class Page:
    def __init__(self, base, shots):
        self.d = browser()
        self.base = base
        self.shots = shots
        self.wait = WebDriverWait(self.d, 30, poll_frequency=0.01)
        self.console = []

    def go(self, route):
        self.d.get(self.base + "/ui/" + route)

    def el(self, css):
        return self.wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    def click(self, css):
        """Clicks the element `css` names; a page that re-rendered it between
        finding and clicking (a live run page does on every event) is asked
        again, within the wait."""
        deadline = time.monotonic() + 30
        while True:
            try:
                self.wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, css))).click()
                return
            except StaleElementReferenceException:
                if time.monotonic() > deadline:
                    raise

    def text(self, css):
        """The element's rendered text, read in one step (pages re-render,
        so a held element can go stale)."""
        self.el(css)
        return self.d.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", css
        )

    def until(self, predicate, timeout=30):
        WebDriverWait(self.d, timeout, poll_frequency=0.05).until(lambda _: predicate())

    def shot(self, name):
        self.d.save_screenshot(os.path.join(self.shots, name + ".png"))

    def sign_in(self, token):
        self.go("")
        self.el("#token").send_keys(token)
        self.click("#sign-in")
        self.el("#caller")

    def injected(self):
        """What markup plugin text could have injected: a flag its script
        sets, and img/script elements that are not the UI's own."""
        return self.d.execute_script(
            "return {flag: window.__xss === undefined ? null : String(window.__xss),"
            " images: document.querySelectorAll('img').length,"
            " scripts: document.querySelectorAll('script').length}"
        )

    def close(self):
        for entry in self.d.get_log("browser"):
            if entry.get("level") == "SEVERE":
                self.console.append(entry.get("message"))
        self.d.quit()


def flow(base, token, shots):
    """Sign in, create a prime_sieve job from the generated form (with a
    validation error first), run it, watch progress, cancel it."""
    p = Page(base, shots)
    out = {}
    try:
        p.go("")
        p.el("#token")
        p.shot("sign-in")
        p.sign_in(token)
        p.el('.job-type[data-job-type="prime_sieve"]')
        p.shot("catalog")
        p.click('.job-type[data-job-type="prime_sieve"] .create')
        limit = p.el('input[data-pointer="/limit"]')
        out["limit_required"] = limit.get_attribute("required") is not None
        out["limit_min"] = limit.get_attribute("min")
        limit.send_keys("1")
        p.el("#job-name").send_keys("Primes from the browser")
        p.click("#submit")
        error = p.el('.field-error[data-pointer="/limit"] p')
        out["field_error"] = error.text
        out["problem"] = p.text(".problem")
        out["hash_after_error"] = p.d.execute_script("return location.hash")
        p.d.execute_script("window.scrollTo(0, 0)")
        p.shot("new-job-error")
        limit.clear()
        limit.send_keys("5000000000")
        p.click("#submit")
        p.until(lambda: p.d.execute_script("return location.hash").startswith("#/jobs/"))
        out["job_id"] = p.d.execute_script("return location.hash").split("/")[-1]
        out["job_config"] = json.loads(p.text("#job-config"))
        p.shot("job")
        p.click("#trigger")
        p.until(lambda: p.d.execute_script("return location.hash").startswith("#/runs/"))
        out["run_id"] = p.d.execute_script("return location.hash").split("/")[-1]
        bar = p.el("#progress")
        samples = []

        def advanced():
            value = float(bar.get_attribute("value") or 0)
            if not samples or samples[-1] != value:
                samples.append(value)
            return len([s for s in samples if s > 0]) >= 2

        p.until(advanced, timeout=60)
        out["progress"] = samples
        out["status_while_running"] = p.text("#run-status")
        p.shot("run")
        p.click("#cancel")
        p.until(lambda: p.text("#run-status") == "cancelled")
        out["final_status"] = p.text("#run-status")
        p.shot("run-cancelled")
        p.go("#/runs")
        p.el('tr[data-run="%s"]' % out["run_id"])
        p.shot("runs")
        out["injected"] = p.injected()
    finally:
        p.close()
    out["console_errors"] = p.console
    return out


def untrusted(base, token, shots, component):
    """Publish a job type whose text is all markup and script, look at it
    everywhere the UI shows it, run it, then yank it."""
    p = Page(base, shots)
    out = {"seen": {}}
    try:
        p.sign_in(token)
        p.go("#/plugins")
        p.el("#publish-file").send_keys(component)
        p.click("#publish")
        p.until(lambda: p.text("#publish-result") != "")
        out["published"] = p.text("#publish-result")
        p.el('tr[data-plugin="untrusted_text@1.0.0"]')
        p.shot("plugins")
        out["seen"]["plugins"] = p.injected()
        p.go("#/catalog")
        card = p.el('.job-type[data-job-type="untrusted_text"]')
        out["card_text"] = card.text
        out["seen"]["catalog"] = p.injected()
        p.click('.job-type[data-job-type="untrusted_text"] .create')
        p.el('[data-pointer="/label"]')
        out["form_text"] = p.text("#new-job")
        out["enum_options"] = [
            o.text for o in p.d.find_elements(By.CSS_SELECTOR, 'select[data-pointer="/mode"] option')
        ]
        out["label_value"] = p.el('[data-pointer="/label"]').get_attribute("value")
        out["seen"]["form"] = p.injected()
        p.shot("untrusted-form")
        p.click("#submit")
        p.until(lambda: p.d.execute_script("return location.hash").startswith("#/jobs/"))
        out["seen"]["job"] = p.injected()
        p.click("#trigger")
        p.until(lambda: p.d.execute_script("return location.hash").startswith("#/runs/"))
        p.until(lambda: p.text("#run-status") == "completed")
        p.until(lambda: "markup" in p.text("#logs"))
        out["output_text"] = p.text("#output")
        out["logs_text"] = p.text("#logs")
        out["seen"]["run"] = p.injected()
        p.shot("untrusted-run")
        p.go("#/plugins")
        p.click('tr[data-plugin="untrusted_text@1.0.0"] button[data-action="yanked"]')
        p.until(
            lambda: "yanked"
            in p.text('tr[data-plugin="untrusted_text@1.0.0"] td:nth-child(3)')
        )
        out["yanked"] = True
    finally:
        p.close()
    out["console_errors"] = p.console
    return out


def agent(base, token, shots):
    """An agent token meets the same rule in the UI as in REST and MCP."""
    p = Page(base, shots)
    out = {}
    try:
        p.sign_in(token)
        card = p.el('.job-type[data-job-type="http_request"]')
        out["create_buttons"] = len(card.find_elements(By.CSS_SELECTOR, ".create"))
        out["card_hint"] = card.find_element(By.CSS_SELECTOR, ".hint").text
        p.go("#/new/http_request")
        p.el('[data-pointer="/url"]').send_keys("https://example.com/")
        p.click("#submit")
        out["problem"] = p.text(".problem")
        out["nav"] = p.text("#nav")
    finally:
        p.close()
    out["console_errors"] = p.console
    return out


def operations(base, token, shots, scheduled_job, pending):
    """The rest of the UI: a form with an array, a boolean and the raw JSON
    view; a trigger with overrides; jobs filtered by type; schedule
    controls; approving a version's grants."""
    p = Page(base, shots)
    out = {}
    try:
        p.sign_in(token)
        p.go("#/new/text_stats")
        p.el('[data-pointer="/text"]').send_keys("The cat and the hat and a bat.")
        for word in ["the", "a"]:
            p.click('button.add[data-pointer="/stopwords"]')
            fields = ':is(input, textarea)[data-pointer^="/stopwords/"]'
            index = len(p.d.find_elements(By.CSS_SELECTOR, fields)) - 1
            p.el(':is(input, textarea)[data-pointer="/stopwords/%d"]' % index).send_keys(word)
        p.click('input[data-pointer="/case_sensitive"]')
        top = p.el('[data-pointer="/top_n"]')
        top.clear()
        top.send_keys("5")
        p.click("#raw-toggle")
        out["raw"] = json.loads(p.el("#raw-json").get_attribute("value"))
        p.shot("form-raw-json")
        p.click("#raw-toggle")
        p.click("#submit")
        p.until(lambda: p.d.execute_script("return location.hash").startswith("#/jobs/"))
        out["job_id"] = p.d.execute_script("return location.hash").split("/")[-1]
        p.el("#overrides").send_keys('{"top_n": 1}')
        p.click("#trigger")
        p.until(lambda: p.d.execute_script("return location.hash").startswith("#/runs/"))
        p.until(lambda: p.text("#run-status") == "completed")
        p.el("#output")
        out["output"] = json.loads(p.text("#output"))
        p.go("#/jobs")
        p.el("#filter-job-type")
        p.d.execute_script(
            "const s = document.getElementById('filter-job-type'); s.value = 'text_stats';"
            "s.dispatchEvent(new Event('change'))"
        )
        p.until(lambda: p.d.execute_script(
            "const rows = [...document.querySelectorAll('tr[data-job] td:nth-child(2)')];"
            "return rows.length > 0 && rows.every(td => td.innerText === 'text_stats')"
        ))
        out["filtered_types"] = p.d.execute_script(
            "return [...document.querySelectorAll('tr[data-job] td:nth-child(2)')].map(td => td.innerText)"
        )
        p.shot("jobs")
        p.go("#/jobs/" + scheduled_job)
        p.click("#schedule-pause")
        p.until(lambda: "pause" in p.text("#schedule-result"))
        out["schedule_result"] = p.text("#schedule-result")
        p.shot("job-schedule")
        p.go("#/plugins")
        row = 'tr[data-plugin="%s"]' % pending
        p.el(row + " .grant-http")
        out["prefilled_http"] = p.el(row + " .grant-http").get_attribute("value")
        out["prefilled_secrets"] = p.el(row + " .grant-secrets").get_attribute("value")
        p.click(row + " button.approve")
        p.until(lambda: p.text(row + " td.approval").startswith("approved"))
        out["approval"] = p.text(row + " td.approval")
        p.shot("plugins-approved")
    finally:
        p.close()
    out["console_errors"] = p.console
    return out


def first_load(base, token, shots, rounds="10"):
    """Cold loads of the UI (cache disabled), timed inside the page: the
    sign-in form's page loaded (navigation timing), and sign-in to the job
    type catalog drawn; bytes of the UI's files."""
    p = Page(base, shots)
    out = {"dom_content_loaded_ms": [], "load_ms": [], "sign_in_to_catalog_ms": [], "bytes": []}
    try:
        p.d.execute_cdp_cmd("Network.enable", {})
        p.d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        for _ in range(int(rounds)):
            p.d.get("about:blank")
            p.go("")
            p.el("#token")
            p.until(lambda: p.d.execute_script("return document.readyState") == "complete")
            nav = p.d.execute_script(
                "const n = performance.getEntriesByType('navigation')[0];"
                "return [n.domContentLoadedEventEnd, n.loadEventEnd]"
            )
            out["dom_content_loaded_ms"].append(nav[0])
            out["load_ms"].append(nav[1])
            out["bytes"].append(
                p.d.execute_script(
                    "return performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))"
                    ".filter(e => e.name.includes('/ui/')).reduce((n, e) => n + e.encodedBodySize, 0)"
                )
            )
            out["sign_in_to_catalog_ms"].append(
                p.d.execute_async_script(
                    "const done = arguments[arguments.length - 1];"
                    "document.getElementById('token').value = arguments[0];"
                    "const t = performance.now();"
                    "document.getElementById('sign-in').click();"
                    "(function poll() {"
                    "  if (document.querySelector('.job-type[data-job-type=\"text_stats\"]')) done(performance.now() - t);"
                    "  else requestAnimationFrame(poll);"
                    "})();",
                    token,
                )
            )
            p.click("#sign-out")
            p.el("#token")
    finally:
        p.close()
    return out


SCENARIOS = {
    "flow": flow,
    "untrusted": untrusted,
    "agent": agent,
    "operations": operations,
    "first_load": first_load,
}


def main():
    scenario, base, token, shots, *rest = sys.argv[1:]
    os.makedirs(shots, exist_ok=True)
    started = time.monotonic()
    out = SCENARIOS[scenario](base, token, shots, *rest)
    out["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
