"""The dashboard's approvals and dead-letter panels in a real headless browser (Debian's
chromium + chromium-driver, selenium).

Run by SluiceIntegrationTests/OperationsAPITests with a live `sluice run --admin-listen` that has
one playbook run waiting for approval: opens the page at 1280x800 with an operator token, waits
until the run shows with its countdown, types a comment and presses Approve with the keyboard,
and waits until the run leaves the list. Saves a screenshot. Prints one JSON line with what it
saw; exits non-zero on any failure. The caller checks the audit records.
"""
import argparse
import json
import sys

from browser_support import clipped_panels, open_browser, open_signed_in, overflows_horizontally, wait
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--run", required=True, help="the run id waiting for approval")
    ap.add_argument("--comment", required=True)
    ap.add_argument("--screenshot", required=True)
    args = ap.parse_args()

    driver = open_browser()
    result = {}
    try:
        open_signed_in(driver, args.url, args.token)
        selector = "#approvals tr[data-run='%s']" % args.run.replace("'", "\\'")
        row = wait(lambda: (driver.find_elements(By.CSS_SELECTOR, selector) or [None])[0], 60, "the waiting run in the approvals panel")
        countdown = row.find_element(By.CSS_SELECTOR, ".countdown").text
        result["countdown"] = countdown
        result["dead_letter_panel"] = driver.find_element(By.ID, "h-dead").text
        comment = row.find_element(By.CSS_SELECTOR, "input.comment")
        comment.click()
        comment.send_keys(args.comment)
        # Keyboard only: Tab from the comment to Approve, Enter presses it.
        comment.send_keys(Keys.TAB)
        focused = driver.switch_to.active_element
        result["focused_button"] = focused.text
        focused.send_keys(Keys.ENTER)
        wait(lambda: not driver.find_elements(By.CSS_SELECTOR, selector), 30, "the approved run to leave the list")
        result["approved"] = True
        result["horizontal_overflow"] = overflows_horizontally(driver)
        result["clipped_panels"] = clipped_panels(driver)
        driver.save_screenshot(args.screenshot)
    finally:
        driver.quit()
    print(json.dumps(result))
    ok = result.get("approved") and result.get("focused_button") == "Approve" and "→ deny" in result.get("countdown", "") \
        and not result.get("horizontal_overflow") and not result.get("clipped_panels")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
