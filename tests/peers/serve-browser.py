"""Chromium over WebDriver against `mxwatch serve` (tests/peers/serve.sh).

    python serve-browser.py demo BASE-URL USER PASSWORD SCREENSHOT-DIR
    python serve-browser.py live BASE-URL USER PASSWORD SCREENSHOT-DIR

`demo`: against `serve --demo` (the in-process lab): the overview, a broken domain, an inventory
edit checked and approved, stranger data inert. `live`: against `serve --config` on the Knot and
Unbound peers, after serve.sh changed healthy.test's MX set in Knot with knotc: "check now" finds
the change, which is approved.

Uses Debian's chromium and chromium-driver (selenium is told where the driver is, so it never
downloads a browser). Prints one "ok ..." line per check; exits non-zero at the first failure.
"""

import sys
import time

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

mode, base, user, password, shots = sys.argv[1:6]


driver = None


def check(condition, what):
    if not condition:
        if driver is not None:
            with open(f"{shots}/failure.html", "w", encoding="utf-8") as f:
                f.write(f"<!-- {driver.current_url} -->\n{driver.page_source}")
        raise SystemExit(f"FAIL {what}")
    print(f"ok {what}", flush=True)


def no_dialog(driver):
    try:
        driver.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
            "--no-proxy-server", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-default-apps", "--no-first-run"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_page_load_timeout(60)


def log_in(least_domains):
    driver.get(f"{base}/")
    check("Log in" in driver.page_source, "unauthenticated overview offers the login form")
    driver.get(f"{base}/login")
    driver.find_element(By.NAME, "name").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    # The click returns before the next page has loaded: wait for the overview (or give up).
    try:
        WebDriverWait(driver, 30).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "table.overview tbody tr")) >= least_domains)
    except TimeoutException:
        pass
    rows = driver.find_elements(By.CSS_SELECTOR, "table.overview tbody tr")
    check(driver.current_url.rstrip("/") == base and len(rows) >= least_domains,
          f"logged in (the login form's CSRF token and cookie accepted); the overview lists {len(rows)} domains")


def wait_for_text(text, seconds=30):
    """True once the current page holds TEXT (a click returns before the next page has loaded)."""
    try:
        WebDriverWait(driver, seconds).until(lambda d: text in d.page_source)
        return True
    except TimeoutException:
        return False


def wait_for_unexpected_change(domain, seconds=120):
    """The approve form of the first open unexpected change of DOMAIN in the feed, or None."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        driver.get(f"{base}/changes?domain={domain}&unexpected=true")
        forms = driver.find_elements(By.CSS_SELECTOR, "tr.unexpected form[action$='/approve']")
        if forms:
            return forms[0]
        time.sleep(2)
    return None


def live():
    """healthy.test's MX set was changed in Knot after serve recorded its baseline."""
    log_in(1)
    driver.get(f"{base}/domains/healthy.test")
    check("mx2.healthy.test" in driver.page_source and "mx1.provider.test" not in driver.page_source,
          "healthy.test shows its recorded MX set (before the edit)")
    driver.find_element(By.XPATH, "//button[text()='Check now']").click()
    row = wait_for_unexpected_change("healthy.test")
    check(row is not None, "the MX change made in Knot shows in the feed, unexpected")
    changes = driver.find_element(By.CSS_SELECTOR, "table.changes").text
    check("mx-added" in changes and "mx1.provider.test" in changes
          and "mx-removed" in changes and "mx2.healthy.test" in changes,
          "the feed says which exchange was added and which removed")
    row.find_element(By.NAME, "note").send_keys("moved to the provider (peers)")
    row.find_element(By.NAME, "approve").click()
    check(wait_for_text("approved by user:") and "moved to the provider (peers)" in driver.page_source,
          "the live change is approved, with its note, by the logged-in user")
    driver.get(f"{base}/domains/healthy.test")
    check("mx1.provider.test" in driver.page_source, "the domain page shows the new MX set")
    driver.save_screenshot(f"{shots}/live-change.png")


def demo():
    log_in(20)
    cookie = driver.get_cookie("mxwatch_session")
    check(cookie and cookie["httpOnly"] and cookie["secure"] and cookie.get("sameSite") == "Strict",
          "the session cookie is HttpOnly, Secure, SameSite=Strict")
    driver.get(f"{base}/?sort=severity&order=desc")
    driver.save_screenshot(f"{shots}/overview.png")
    driver.set_window_size(360, 800)
    width = driver.execute_script("return document.documentElement.scrollWidth")
    check(width <= 362, f"the overview fits 360 px (scroll width {width})")
    driver.save_screenshot(f"{shots}/overview-360.png")
    driver.set_window_size(1280, 900)

    driver.get(f"{base}/domains/typo.test")
    findings = driver.find_elements(By.CSS_SELECTOR, "ul.findings li")
    ids = [f.find_element(By.TAG_NAME, "strong").text for f in findings]
    check(len(findings) > 0 and any(i.startswith("MX-") for i in ids), f"typo.test shows its findings: {', '.join(ids)}")
    check(len(driver.find_elements(By.CSS_SELECTOR, "p.fix")) == len(findings), "each finding has its fix")
    driver.save_screenshot(f"{shots}/domain.png")

    # A change made live: healthy.test must now have another MX set; check it now.
    driver.get(f"{base}/inventory")
    driver.find_element(By.NAME, "domain").send_keys("healthy.test")
    driver.find_element(By.NAME, "expect_mx").send_keys("10 mx.elsewhere.test")
    driver.find_element(By.CSS_SELECTOR, "form.edit button").click()
    check(wait_for_text("mx.elsewhere.test"), "the inventory edit is saved")
    driver.get(f"{base}/domains/healthy.test")
    driver.find_element(By.XPATH, "//button[text()='Check now']").click()
    row = wait_for_unexpected_change("healthy.test")
    check(row is not None, "the live change shows in the feed, unexpected")
    hostile = '<img src=x onerror=alert(1)><script>alert(2)</script>javascript:alert(3)'
    row.find_element(By.NAME, "note").send_keys(hostile)
    row.find_element(By.NAME, "approve").click()
    time.sleep(1)
    check(no_dialog(driver), "no alert dialog after approving with a note holding markup")
    notes = driver.find_elements(By.CSS_SELECTOR, "small.note")
    check(any("<script>" in n.text for n in notes), "the note renders as text")
    check(not driver.find_elements(By.CSS_SELECTOR, "small.note img, small.note script"), "no element injected")
    check("approved by user:" in driver.page_source, "the change is approved by the logged-in user")

    # Stranger data: a lab SPF record holding <script> and javascript: is shown as text, inert.
    driver.get(f"{base}/domains/html-record.test")
    texts = " ".join(p.text for p in driver.find_elements(By.CSS_SELECTOR, "ul.findings p"))
    # (the SPF parser names the first bad term: the <script> one)
    check("<script>alert(1)</script>" in texts, "html-record.test: the record's markup is shown as text")
    check(no_dialog(driver) and len(driver.find_elements(By.TAG_NAME, "script")) == 1
          and not driver.find_elements(By.CSS_SELECTOR, "main a[href^='javascript']"),
          "html-record.test: no dialog, no injected script element, no javascript: link")

    # The lab's SMTP host that greets with escape sequences renders as inert text.
    driver.get(f"{base}/domains/smtp-escape.test")
    check(no_dialog(driver) and len(driver.find_elements(By.TAG_NAME, "script")) == 1,
          "smtp-escape.test: no dialog, no script element but our own")
    driver.save_screenshot(f"{shots}/domain-escape.png")


try:
    {"demo": demo, "live": live}[mode]()
finally:
    driver.quit()
