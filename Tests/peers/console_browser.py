#!/usr/bin/env python3
"""Drives the daemon's web console in headless Chromium (Tests/AtelierIntegrationTests/ConsoleBrowserTests.swift).

  console_browser.py BASE_URL TOKEN_FILE SOCKET TASK_UUID WORKFLOW_UUID SCREENSHOT_DIR

BASE_URL is the HTTP face (http://127.0.0.1:PORT/); TOKEN_FILE holds the bearer token; SOCKET is the daemon's Unix
socket (a second job is submitted there while the jobs page is open, to see it arrive live); TASK_UUID a succeeded
job; WORKFLOW_UUID a workflow awaiting selection. Walks: no token → the token form and 401s; the console opened with
#token= → the jobs list with the job's thumbnail loaded, then the live job; the job page; the workflow's contact
sheet → a click on the first draft → the final side by side with the draft; the costs page's charts. A PNG of each
page goes to SCREENSHOT_DIR. Prints one JSON object with what it saw; exits 1 (message on stderr) when a step fails.

Selenium from PyPI (scripts/requirements-test.txt) drives Debian's chromium through Debian's chromium-driver, given
explicitly (/usr/bin/chromedriver, or $CHROMEDRIVER): nothing is downloaded at run time. Only loopback URLs.
"""
import json
import os
import shutil
import socket
import sys
import tempfile
import urllib.parse

STEP_TIMEOUT = float(os.environ.get("ATELIER_BROWSER_TIMEOUT", "60"))


def fail(message, driver=None, shots=None):
    if driver is not None and shots:
        try:
            driver.save_screenshot(os.path.join(shots, "failure.png"))
            print("browser console log:", driver.get_log("browser"), file=sys.stderr)
        except Exception:  # the failure report must not hide the failure
            pass
    print(message, file=sys.stderr)
    sys.exit(1)


def rpc(socket_path, method, params):
    """One JSON-RPC call over the daemon's Unix socket (NDJSON)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(socket_path)
        s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    answer = json.loads(buf)
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    base, token_file, socket_path, task_uuid, workflow_uuid, shots = sys.argv[1:]
    if urllib.parse.urlparse(base).hostname not in ("127.0.0.1", "::1", "localhost"):
        sys.exit(f"refusing a non-loopback URL: {base}")
    with open(token_file, encoding="utf-8") as f:
        token = f.read().strip()
    base = base if base.endswith("/") else base + "/"
    os.makedirs(shots, exist_ok=True)

    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as EC
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        fail("selenium is not installed (pip install -r scripts/requirements-test.txt)")

    driver_path = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
    browser_path = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
    if not os.access(driver_path, os.X_OK) or not os.access(browser_path, os.X_OK):
        fail(f"Debian's chromium and chromium-driver are required ({browser_path}, {driver_path}); scripts/setup-deps installs them")

    profile = tempfile.mkdtemp(prefix="atelier-chromium-")  # a fresh profile, removed at the end
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1366,900",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    seen = {"screenshots": []}

    def wait(condition, what):
        try:
            # The pages re-render on events: an element found a moment ago may be replaced; look again.
            ignored = (NoSuchElementException, StaleElementReferenceException)
            return WebDriverWait(driver, STEP_TIMEOUT, ignored_exceptions=ignored).until(condition)
        except Exception as e:
            fail(f"waiting for {what} (at most {STEP_TIMEOUT:.0f} s): {type(e).__name__} {e}", driver, shots)

    def shot(name):
        """The whole page: the window is made as tall as the page (at most 4000 px) for the picture."""
        path = os.path.join(shots, name)
        height = driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)")
        driver.set_window_size(1366, max(900, min(int(height) + 120, 4000)))
        driver.save_screenshot(path)
        driver.set_window_size(1366, 900)
        seen["screenshots"].append(path)

    def loaded(selector):
        """An <img> matching selector that has loaded (naturalWidth > 0)."""
        def check(d):
            for img in d.find_elements(By.CSS_SELECTOR, selector):
                if d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img):
                    return img
            return False
        return check

    try:
        # 1. Without the token: the token form, no jobs; the API answers 401 to the page.
        driver.get(base + "console/")
        wait(EC.visibility_of_element_located((By.ID, "token-gate")), "the token form")
        seen["gateWithoutToken"] = True
        seen["jobsTableWithoutToken"] = len(driver.find_elements(By.ID, "jobs")) > 0
        seen["apiStatusWithoutToken"] = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/api/jobs', {cache: 'no-store'}).then(r => done(r.status)).catch(e => done(String(e)));")
        seen["imageStatusWithoutToken"] = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            f"fetch('/api/images/{task_uuid}/00000000-0000-4000-8000-000000000000').then(r => done(r.status)).catch(e => done(String(e)));")
        shot("01-token-required.png")
        driver.get_log("browser")  # the 401s above are expected; later steps must log no error

        # 2. With the token in the fragment: the jobs list with the job's thumbnail; the fragment is gone.
        driver.get(base + "console/#token=" + token)
        wait(loaded(f'tr[data-task="{task_uuid}"] img.thumb'), "the job's thumbnail in the jobs list")
        seen["thumbnailLoaded"] = True
        seen["urlAfterToken"] = driver.current_url
        seen["tokenInSessionStorage"] = driver.execute_script("return sessionStorage.getItem('atelier.token')") == token
        seen["cookies"] = len(driver.get_cookies())
        # A job submitted now appears without a reload (the event stream).
        wait(lambda d: d.find_element(By.ID, "live").text == "live", "the event stream to be live")
        live = rpc(socket_path, "job.submit", {"positivePrompt": "a kite seen live in the console", "model": "local-render",
                                               "width": 256, "height": 256})
        wait(loaded(f'tr[data-task="{live["taskUUID"]}"] img.thumb'), "the live job's row and thumbnail")
        seen["liveTaskUUID"] = live["taskUUID"]
        shot("02-jobs.png")

        # 3. The job page: the full-size image, the route, the attempts, the task.
        driver.find_element(By.CSS_SELECTOR, f'tr[data-task="{task_uuid}"] a').click()
        wait(loaded("img.full"), "the job's full-size image")
        text = driver.find_element(By.ID, "view").text
        seen["jobPageSections"] = [s for s in ("Route", "Attempts", "Verification", "Delivery", "Recipe", "Task as accepted") if s in text]
        shot("03-job.png")

        # 4. The workflow: drafts as a contact sheet; a click on the first selects it; the final follows.
        driver.get(base + "console/#/workflow/" + workflow_uuid)
        wait(loaded("#contact-sheet .draft-card.selectable img.draft"), "the workflow's drafts")
        card = driver.find_element(By.CSS_SELECTOR, "#contact-sheet .draft-card.selectable")
        seen["draftsShown"] = len(driver.find_elements(By.CSS_SELECTOR, "#contact-sheet .draft-card"))
        seen["clickedImageUUID"] = card.get_attribute("data-image-uuid")
        shot("04-workflow-drafts.png")
        card.find_element(By.CSS_SELECTOR, "img.draft").click()
        wait(lambda d: d.find_element(By.ID, "workflow-state").get_attribute("data-state") == "succeeded", "the workflow to succeed")
        wait(loaded("#final img.final-image"), "the final beside the draft")
        seen["workflowStateShown"] = "succeeded"
        seen["savingShown"] = driver.find_element(By.ID, "saving").text if driver.find_elements(By.ID, "saving") else None
        shot("05-workflow-final.png")

        # 5. Costs: the charts render (inline SVG with bars).
        driver.get(base + "console/#/costs")
        wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "svg.chart")) >= 5, "the cost charts")
        wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")) > 0, "bars in the cost charts")
        seen["charts"] = len(driver.find_elements(By.CSS_SELECTOR, "svg.chart"))
        seen["bars"] = len(driver.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar"))
        shot("06-costs.png")

        severe = [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        seen["browserErrors"] = severe
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
