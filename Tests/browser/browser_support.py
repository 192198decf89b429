"""What the dashboard checks share: a headless chromium of a fixed size, signing in with a token,
and waiting on a condition of the page instead of a clock."""
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service

WIDTH, HEIGHT = 1280, 800


def open_browser():
    """Debian's chromium + chromium-driver, headless, at WIDTH x HEIGHT."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--window-size=%d,%d" % (WIDTH, HEIGHT), "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_window_size(WIDTH, HEIGHT)
    return driver


def open_signed_in(driver, url, token):
    """Opens the dashboard with a bearer token in session storage, as the page's sign-in keeps it."""
    driver.get(url)
    driver.execute_script("sessionStorage.setItem('sluice.token', arguments[0])", token)
    driver.get(url)


def wait(predicate, seconds, what):
    """The predicate's first truthy value within `seconds`; exits with `what` otherwise. A panel that
    re-renders between finding an element and reading it counts as not yet."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except StaleElementReferenceException:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit("timed out waiting for " + what)


def overflows_horizontally(driver):
    return driver.execute_script("return document.documentElement.scrollWidth") > WIDTH


def clipped_panels(driver):
    """Panels whose content is wider than the panel (cut off, or scrolling sideways): their labels."""
    return driver.execute_script("""
        const wide = (e) => e.scrollWidth > e.clientWidth + 1;
        return [...document.querySelectorAll('section')]
            .filter((s) => wide(s) || [...s.querySelectorAll('.scroll')].some(wide))
            .map((s) => s.getAttribute('aria-labelledby') || s.id || s.className);
    """)
