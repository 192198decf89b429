"""The silences panel in a real headless browser (Debian's chromium + chromium-driver, selenium).

Run by SluiceIntegrationTests/SilencesDashboardTests with a live `sluice run --admin-listen` and
an operator token: opens the page at 1280x800, finds the feed row of `--finding`, creates a
silence from it with the keyboard (the form opens with a preview of what it would hold; Enter
in the comment submits), sees the silence listed, publishes the same finding again with the
command after `--`, and waits until the new row shows `held: silenced`. Prints one JSON line
with what it saw; exits non-zero on any failure.
"""
import argparse
import json
import subprocess
import sys

from browser_support import clipped_panels, open_browser, open_signed_in, overflows_horizontally, wait
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--finding", required=True, help="the id of a finding already in the feed")
    ap.add_argument("--comment", required=True)
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--inhibit-rule", required=True, help="the name of the inhibit rule the route files hold")
    ap.add_argument("publish", nargs=argparse.REMAINDER, help="-- command that publishes the finding again")
    args = ap.parse_args()
    publish = [a for a in args.publish if a != "--"]

    driver = open_browser()
    result = {}
    try:
        open_signed_in(driver, args.url, args.token)

        def row_of_finding():
            for tr in driver.find_elements(By.CSS_SELECTOR, "#feed tr"):
                if args.finding in tr.text:
                    return tr
            return None
        def press_silence():
            # Found and pressed in one go: a feed update may replace the row in between.
            row = row_of_finding()
            if row is None:
                return None
            button = row.find_element(By.CSS_SELECTOR, "button.silence-row")
            label = button.get_attribute("aria-label")
            button.click()
            return label
        result["button_label"] = wait(press_silence, 60, "the finding's row in the feed, and its Silence button")
        preview = wait(lambda: driver.find_element(By.ID, "si-preview").text, 30, "the preview of the silence")
        result["preview"] = preview
        result["matchers"] = driver.find_element(By.ID, "si-matchers").get_attribute("value")
        focused = driver.switch_to.active_element
        result["focus_after_open"] = focused.get_attribute("id")
        # Keyboard only: type the comment where the focus is; Enter submits the form.
        focused.send_keys(args.comment)
        focused.send_keys(Keys.ENTER)
        listed = wait(lambda: [tr.text for tr in driver.find_elements(By.CSS_SELECTOR, "#silences tr") if args.finding in tr.text],
                      30, "the new silence in the silences panel")
        result["listed"] = listed[0]

        # The same finding again: its new row shows that the silence held it.
        before = len(driver.find_elements(By.CSS_SELECTOR, "#feed tr"))
        subprocess.run(publish, check=True, stdout=subprocess.DEVNULL)

        def held_row():
            rows = driver.find_elements(By.CSS_SELECTOR, "#feed tr")
            if len(rows) <= before:
                return None
            return next((tr.text for tr in rows if args.finding in tr.text and "held: silenced" in tr.text), None)
        result["held_row"] = wait(held_row, 60, "the repeat to show held: silenced")
        # The routes panel counts what state rules held, by reason; the inhibit rules are listed.
        result["routes_held"] = wait(lambda: "silenced 1" in driver.find_element(By.ID, "routes").text and driver.find_element(By.ID, "routes").text,
                                     30, "the routes panel to count the silenced finding")
        result["inhibitions"] = wait(lambda: driver.find_element(By.ID, "inhibitions").text, 30, "the inhibit rule in the inhibitions panel")
        result["clipped_panels"] = clipped_panels(driver)
        result["horizontal_overflow"] = overflows_horizontally(driver)
        driver.save_screenshot(args.screenshot)
    finally:
        driver.quit()
    print(json.dumps(result))
    ok = (result.get("preview", "").startswith("Would hold 1 of") and result.get("focus_after_open") == "si-comment"
          and args.comment in result.get("listed", "") and "held: silenced" in result.get("held_row", "")
          and "silenced 1" in result.get("routes_held", "") and args.inhibit_rule in result.get("inhibitions", "")
          and not result.get("horizontal_overflow") and not result.get("clipped_panels"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
