"""The dashboard in a real headless browser (Debian's chromium + chromium-driver, selenium).

Run by SluiceIntegrationTests/AdminIntegrationTests with a live `sluice run --admin-listen`:
opens the page at 1280x800, waits until it is live and ready, publishes the findings with
`sluice publish`, and checks that every finding id shows in the feed within 2 s of the broker's
acks. Checks the page is keyboard-usable (skip link first, feed rows focusable) and saves a
screenshot. Prints one JSON line with what it measured; exits non-zero on any failure.
"""
import argparse
import json
import subprocess
import sys
import time

from browser_support import clipped_panels, open_browser, open_signed_in, overflows_horizontally, wait
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--ids", required=True, help="comma-separated finding ids the publish sends")
    ap.add_argument("--within", type=float, default=2.0)
    ap.add_argument("publish", nargs=argparse.REMAINDER, help="-- command that publishes the findings")
    args = ap.parse_args()
    publish = [a for a in args.publish if a != "--"]
    ids = args.ids.split(",")

    driver = open_browser()
    result = {}
    try:
        driver.get(args.url)
        # The page is live (its event stream is open) and the router is ready (partitions assigned).
        # Startup on a loaded machine can be slow: wait on the page's own markers, not a clock.
        wait(lambda: driver.find_element(By.ID, "conn").text == "live" and driver.find_element(By.ID, "ready").text == "ready",
             120, "the dashboard to be live (#conn) and the router ready (#ready)")

        subprocess.run(publish, check=True, stdout=subprocess.DEVNULL)
        acked = time.monotonic()
        missing = ids
        while time.monotonic() - acked < args.within + 5:  # look a little past the bound to report how late
            feed = driver.find_element(By.ID, "feed").text
            missing = [i for i in ids if i not in feed]
            if not missing:
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - acked
        result["appeared_after_s"] = round(elapsed, 3)
        result["missing"] = missing
        rows = driver.find_elements(By.CSS_SELECTOR, "#feed tr")
        result["rows"] = len(rows)

        # Keyboard: the first Tab lands on the skip link; Enter moves focus to the feed; rows take focus.
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)
        first = driver.switch_to.active_element
        result["first_tab"] = first.text
        first.send_keys(Keys.ENTER)
        result["focus_after_skip"] = driver.switch_to.active_element.get_attribute("id")
        driver.execute_script("arguments[0].focus()", rows[0])
        result["row_focusable"] = driver.switch_to.active_element.get_attribute("tabindex") == "0"
        # Delivered outcomes show once the webhook acknowledged them.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and driver.find_element(By.ID, "feed").text.count("delivered") < len(ids):
            time.sleep(0.1)
        result["delivered_shown"] = driver.find_element(By.ID, "feed").text.count("delivered")
        result["horizontal_overflow"] = overflows_horizontally(driver)
        result["clipped_panels"] = clipped_panels(driver)
        driver.execute_script("window.scrollTo(0, 0)")  # the screenshot shows the page as it opens
        driver.save_screenshot(args.screenshot)
    finally:
        driver.quit()
    print(json.dumps(result))
    ok = (not result.get("missing") and result["appeared_after_s"] <= args.within and result["first_tab"] == "Skip to findings"
          and result["focus_after_skip"] == "findings" and result["row_focusable"] and not result["horizontal_overflow"] and not result["clipped_panels"]
          and result["delivered_shown"] >= len(ids))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
