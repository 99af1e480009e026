"""The web UI in a real browser against the real product: `make run` on the embedded default, headless Chromium.

It signs in as a researcher made through the admin API, finds on the Jobs page a job created through the API (on
the reference node that `make run` registers), then uploads a small generated VCF on the New job page, watching the
upload's progress bar reach 100 % and the pre-flight report arrive from the Celery worker.

Needs the Debian packages chromium and chromium-driver and the selenium wheel; without them it is skipped, or fails
under REQUIRE_SERVICES=1 (CI), like the other tests that need a server.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
ADMIN = ("e2e-admin", "e2e-admin@example.org", f"Adm-{secrets.token_urlsafe(12)}")
RESEARCHER_PASSWORD = f"Res-{secrets.token_urlsafe(12)}"
NODE_SERVICE = "local-node-cloudgene"
CHUNK = 8 * 1024 * 1024  # the UI's tus chunk size
LARGE_BYTES = 24 * 1024 * 1024  # three chunks: one is stored before the reload, the rest after it


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 and {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s")


@dataclass
class Api:
    base: str
    token: str | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, text.decode(errors="replace")

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        status, answer = self.call(method, path, body, **kwargs)
        assert status < 300, f"{method} {path} answered {status}: {answer}"
        return answer

    def login(self, username: str, password: str) -> Api:
        tokens = self.ok("POST", "/api/auth/login/", {"username": username, "password": password})
        return Api(self.base, tokens["access"])

    def upload_oneshot(self, path: Path) -> dict[str, Any]:
        boundary = uuid.uuid4().hex
        body = b"".join(
            [
                f"--{boundary}\r\n".encode(),
                f'Content-Disposition: form-data; name="file"; filename="{path.name}"\r\n'.encode(),
                b"Content-Type: application/gzip\r\n\r\n",
                path.read_bytes(),
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        status, answer = self.call(
            "POST", "/api/files/", raw=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        assert status == 201, f"one-shot upload answered {status}: {answer}"
        return dict(answer)


@dataclass
class Product:
    base: str
    var_dir: Path
    log: Path


@pytest.fixture
def product(tmp_path: Path) -> Iterator[Product]:
    """The README's `make run` in a fresh var/ on a free port, torn down with its whole process tree."""
    port = _free_port()
    var_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL_", "PLATFORM_PROFILE", "REDIS_URL"))}
    env.update(VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="config.settings.base")
    log_path = tmp_path / "run.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            _wait_for(lambda: Api(base).call("GET", "/readyz")[0] == 200, 300, "/readyz 200")
        except AssertionError as error:
            raise AssertionError(f"{error}; the run's log ends with:\n{log_path.read_text()[-3000:]}") from None
        subprocess.run(
            [sys.executable, "manage.py", "users_create_admin"],
            cwd=ROOT,
            env={**env, "ADMIN_USERNAME": ADMIN[0], "ADMIN_EMAIL": ADMIN[1], "ADMIN_PASSWORD": ADMIN[2]},
            check=True,
            capture_output=True,
        )
        yield Product(base=base, var_dir=var_dir, log=log_path)
    finally:
        if process.poll() is None:
            stack = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
            for proc in stack:
                proc.kill()
            psutil.wait_procs(stack, timeout=15)
        log.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("the selenium package is not installed (requirements/dev.txt)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        _unavailable("Chromium and its driver are not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(driver_path)), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def _console(driver: Any) -> str:
    try:
        return "\n".join(f"{entry['level']}: {entry['message']}" for entry in driver.get_log("browser"))
    except Exception:  # a driver without the log endpoint
        return "(no browser log)"


def _researcher(api: Api) -> tuple[str, Api]:
    """A researcher made through the admin API (not the admin: the UI is for the people who run jobs)."""
    admin = api.login(ADMIN[0], ADMIN[2])
    username = f"ui-researcher-{secrets.token_hex(3)}"
    admin.ok(
        "POST",
        "/api/users/",
        {
            "username": username,
            "email": f"{username}@example.org",
            "password": RESEARCHER_PASSWORD,
            "role": "researcher",
        },
    )
    return username, api.login(username, RESEARCHER_PASSWORD)


def _job_through_api(user: Api, product: Product) -> dict[str, Any]:
    """A job on the reference node with its own demo input, created with the API as any client would."""
    panels = _wait_for(
        lambda: (
            [
                p
                for p in user.ok("GET", f"/api/reference-panels/?service={NODE_SERVICE}&build=hg19")["results"]
                if p["is_available"]
            ]
            if user.call("GET", f"/api/services/{NODE_SERVICE}/")[0] == 200
            else None
        ),
        180,
        f"the reference node registered as {NODE_SERVICE} with an hg19 panel",
    )
    demo = product.var_dir / "node" / "panels" / "demo-hg19" / "input.chr20.vcf.gz"
    assert demo.is_file(), f"make run built no demo input at {demo}"
    uploaded = user.upload_oneshot(demo)
    ready = _wait_for(
        lambda: (f := user.ok("GET", f"/api/files/{uploaded['id']}/"))["status"] in ("ready", "rejected") and f,
        120,
        "the demo input's pre-flight check",
    )
    assert ready["status"] == "ready", ready["validation"]
    name = f"API job {secrets.token_hex(3)}"
    status, job = user.call(
        "POST",
        "/api/jobs/",
        {
            "name": name,
            "service": NODE_SERVICE,
            "reference_panel": panels[0]["id"],
            "input_files": [uploaded["id"]],
            "build": "hg19",
            "phasing": "no_phasing",
        },
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert status == 201, f"POST /api/jobs/ answered {status}: {job}"
    return dict(job)


def _small_vcf(directory: Path) -> Path:
    from apps.genomics.simulate import vcf_simulate

    path = directory / "ui-study.chr20.vcf.gz"
    vcf_simulate(path, samples=40, length=300_000, chromosome="20", build="hg19", seed=11)
    return path


def _large_vcf(directory: Path) -> Path:
    from apps.genomics.simulate import vcf_synthesise

    path = directory / "ui-large.chr20.vcf.gz"
    vcf_synthesise(path, size_bytes=LARGE_BYTES, samples=100)
    return path


def _server_upload(user: Api, name: str) -> dict[str, Any] | None:
    files = user.ok("GET", "/api/files/?kind=input&page_size=100")["results"]
    return next((f for f in files if f["name"] == name), None)


def _sign_in(browser: Any, wait: Any, url: str, username: str, password: str, heading: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    browser.get(url)
    wait.until(ec.visibility_of_element_located((By.ID, "login-username"))).send_keys(username)
    browser.find_element(By.ID, "login-password").send_keys(password)
    browser.find_element(By.XPATH, "//button[normalize-space()='Sign in']").click()
    wait.until(ec.visibility_of_element_located((By.XPATH, f"//h1[normalize-space()='{heading}']")))


def test_sign_in_list_jobs_and_upload_with_preflight_in_a_real_browser(
    product: Product, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    api = Api(product.base)
    username, user = _researcher(api)
    job = _job_through_api(user, product)
    vcf = _small_vcf(tmp_path)
    wait = WebDriverWait(browser, 60)

    def fail(message: str) -> None:
        raise AssertionError(f"{message}\npage: {browser.current_url}\nbrowser log:\n{_console(browser)}")

    # sign in (a deep link: the login page sends the user back to it)
    try:
        _sign_in(browser, wait, f"{product.base}/jobs", username, RESEARCHER_PASSWORD, "Jobs")
    except Exception:
        fail("signing in did not reach the Jobs page")
    assert browser.find_element(By.CLASS_NAME, "user").text == username

    # the job made through the API is listed, with its status in words
    try:
        link = wait.until(ec.visibility_of_element_located((By.LINK_TEXT, job["name"])))
    except Exception:
        fail(f"the Jobs page does not list {job['name']!r}")
    row = link.find_element(By.XPATH, "./ancestor::tr")
    assert row.get_attribute("data-job-id") == job["id"]
    status_text = row.find_element(By.CLASS_NAME, "job-status").text.lower()
    assert any(word in status_text for word in ("pending", "queued", "running", "completed", "failed")), status_text

    # New job: the upload's progress bar reaches 100 %, then the pre-flight report arrives
    browser.find_element(By.LINK_TEXT, "New job").click()
    file_input = wait.until(ec.presence_of_element_located((By.ID, "upload-input")))
    file_input.send_keys(str(vcf))
    bar_xpath = f"//div[@role='progressbar'][@aria-label='Upload of {vcf.name}']"
    try:
        bar = wait.until(ec.visibility_of_element_located((By.XPATH, bar_xpath)))
        wait.until(lambda d: d.find_element(By.XPATH, bar_xpath).get_attribute("aria-valuenow") == "100")
        wait.until(
            ec.visibility_of_element_located((By.XPATH, "//span[contains(@class,'badge') and text()='Uploaded']"))
        )
    except Exception:
        fail("the upload did not finish with its progress bar at 100 %")
    assert bar.is_displayed()
    item = browser.find_element(By.CLASS_NAME, "upload-item")
    assert "100%" in item.text

    next_button = browser.find_element(By.XPATH, "//button[normalize-space()='Next']")
    wait.until(lambda d: next_button.is_enabled())
    next_button.click()
    report_xpath = f"//article[@aria-label='Pre-flight report of {vcf.name}']"
    try:
        wait.until(
            lambda d: "Ready" in (t := d.find_element(By.XPATH, report_xpath).text) or "Rejected" in t,
        )
    except Exception:
        fail("no pre-flight verdict was shown")
    report = browser.find_element(By.XPATH, report_xpath).text
    assert "Ready: the file passed the pre-flight check" in report, report
    assert "Samples\n40" in report, report
    assert "Build detected\nhg19" in report, report
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe

    # resumable: a page reload in the middle of a (throttled) upload, then the same file again continues it
    large = _large_vcf(tmp_path)
    browser.execute_cdp_cmd("Network.enable", {})
    throttle = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 2 * 1024 * 1024}
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", throttle)
    browser.get(f"{product.base}/jobs/new")
    wait.until(ec.presence_of_element_located((By.ID, "upload-input"))).send_keys(str(large))
    stored = _wait_for(
        lambda: (f := _server_upload(user, large.name)) and f["offset"] >= CHUNK and f,
        60,
        "the first chunk of the large upload on the server",
    )
    browser.refresh()
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {**throttle, "uploadThroughput": -1})
    notice = wait.until(ec.visibility_of_element_located((By.XPATH, "//div[@role='note']")))
    assert large.name in notice.text, notice.text
    interrupted = _server_upload(user, large.name)
    assert interrupted is not None and interrupted["status"] == "uploading", interrupted
    assert CHUNK <= interrupted["offset"] < LARGE_BYTES, interrupted

    browser.find_element(By.ID, "upload-input").send_keys(str(large))
    try:
        wait.until(
            ec.visibility_of_element_located((By.XPATH, "//span[contains(@class,'badge') and text()='Uploaded']"))
        )
    except Exception:
        fail("the resumed upload did not finish")
    assert "resumed from an earlier upload" in browser.find_element(By.CLASS_NAME, "upload-item").text
    same = [f for f in user.ok("GET", "/api/files/?kind=input&page_size=100")["results"] if f["name"] == large.name]
    assert [f["id"] for f in same] == [stored["id"]], same  # continued, not started over as a new file
    done = _wait_for(
        lambda: (f := user.ok("GET", f"/api/files/{stored['id']}/"))["status"] in ("ready", "rejected") and f,
        120,
        "the pre-flight check of the resumed upload",
    )
    assert done["status"] == "ready" and done["offset"] == done["size"] == large.stat().st_size, done


def test_a_notification_arrives_live_and_operators_see_the_operations_page_in_a_real_browser(
    product: Product, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    api = Api(product.base)
    username, user = _researcher(api)
    wait = WebDriverWait(browser, 60)

    def fail(message: str) -> None:
        raise AssertionError(f"{message}\npage: {browser.current_url}\nbrowser log:\n{_console(browser)}")

    def unread() -> str:
        return str(browser.find_element(By.CSS_SELECTOR, "[data-testid='unread-count']").text)

    # a researcher on the Notifications page: nothing yet, and no Operations link for them
    try:
        _sign_in(browser, wait, f"{product.base}/notifications", username, RESEARCHER_PASSWORD, "Notifications")
    except Exception:
        fail("signing in did not reach the Notifications page")
    wait.until(lambda d: unread() == "0")
    assert browser.find_elements(By.LINK_TEXT, "Operations") == []

    # their job is cancelled through the API: the notification is pushed to the open page, no reload, and the page
    # counts what the server counts (a step that ran before the cancel may have paused the job for a token first,
    # which is a notification of its own)
    job = _job_through_api(user, product)
    user.ok("POST", f"/api/jobs/{job['id']}/cancel/")
    title = f'Job "{job["name"]}" was cancelled'
    try:
        item = wait.until(ec.visibility_of_element_located((By.XPATH, f"//*[normalize-space()='{title}']")))
        wait.until(lambda d: unread() == str(user.ok("GET", "/api/notifications/unread-count/")["unread_count"]))
    except Exception:
        known = [n["title"] for n in user.ok("GET", "/api/notifications/")["results"]]
        state = user.ok("GET", f"/api/jobs/{job['id']}/")
        fail(f"{title!r} was not pushed (API: {known}; unread on the page: {unread()}; job: {state['status']})")
    assert "Your job was cancelled." in item.find_element(By.XPATH, "./ancestor::li").text

    browser.find_element(By.XPATH, "//section//button[normalize-space()='Mark all as read']").click()
    try:
        wait.until(lambda d: unread() == "0")
    except Exception:
        fail("marking all as read did not clear the unread count")
    assert user.ok("GET", "/api/notifications/unread-count/") == {"unread_count": 0}

    # an operator signs in: the Operations page shows every health component and the analytics of that job
    browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    wait.until(ec.visibility_of_element_located((By.ID, "login-username")))
    try:
        _sign_in(browser, wait, f"{product.base}/operations", ADMIN[0], ADMIN[2], "Operations")
        table = wait.until(ec.visibility_of_element_located((By.XPATH, "//table[caption='Health of each component']")))
    except Exception:
        fail("the operator did not reach the Operations page's health table")
    rows = table.text
    for component in ("database.jobs", "database.monitoring", "redis", "workers", "storage"):
        assert component in rows, rows
    submitted = "//dt[normalize-space()='Jobs submitted']/following-sibling::dd"

    def counted(driver: Any) -> bool:  # the monitoring projection may take a moment: reload until it has the job
        found = driver.find_elements(By.XPATH, submitted)
        if found and found[0].text == "1":
            return True
        driver.refresh()
        return False

    try:
        WebDriverWait(browser, 90, poll_frequency=3).until(counted)
    except Exception:
        fail("the analytics never counted the researcher's job")
    analytics = browser.find_element(By.XPATH, "//section[@aria-labelledby='analytics-heading']")
    assert analytics.find_elements(By.XPATH, ".//*[@role='alert']") == []
    # a critical report answers 503 (the page shows it); any other failed request is a bug
    logged = browser.get_log("browser")
    severe = [e for e in logged if e["level"] == "SEVERE" and "/api/monitoring/health/" not in e["message"]]
    assert severe == [], severe
