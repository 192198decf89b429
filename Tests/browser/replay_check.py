"""The dashboard's "dead letters by reason" panel and its Replay button in a real headless browser
(Debian's chromium + chromium-driver, selenium).

Run by SluiceIntegrationTests/DeadLetterDashboardTests with a live `sluice run --admin-listen` whose
dead-letter topic holds `--count` letters of `--reason`: opens the page at 1280x800 with `--token`,
waits until the reason's row shows that count, presses its Replay button, and waits for the note
the page gives. `--expect started`: the note says "Replay <name> started: <count> letters.";
the caller's target answers slowly, so the panel re-renders (every 2 s) while the request waits
for the first delivery, and the fresh Replay button must stay disabled until the answer: a person
pressing it again sends nothing. `--expect refused` (a token that may not replay): the page asks
for an operator token, the person has none and cancels, and the note says the replay was refused
and why. Saves a screenshot. Prints one JSON line with what it saw; exits non-zero on any
failure. The caller checks the target.
"""
import argparse
import json
import re
import sys

from browser_support import clipped_panels, open_browser, open_signed_in, overflows_horizontally, wait
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.common.by import By

STARTED = re.compile(r"^Replay (\S+) started: (\d+) letters\.$")


def reason_row(driver, reason):
    """The panel's row of `reason` as (reason, count) cells, or None while it is not shown."""
    for row in driver.find_elements(By.CSS_SELECTOR, "#dead-letters tr"):
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        if cells and cells[0] == reason:
            return cells
    return None


def replay_button(driver, reason):
    buttons = driver.find_elements(By.CSS_SELECTOR, "#dead-letters button[data-reason]")
    return next((b for b in buttons if b.get_attribute("data-reason") == reason), None)


def press_replay(driver, reason):
    """Presses the row's Replay button: (button, its label), or None (try again) when the panel
    re-rendered under it."""
    button = replay_button(driver, reason)
    if button is None or not button.is_enabled():
        return None
    label = button.get_attribute("aria-label")
    button.click()
    return button, label


def press_again(driver, reason):
    """Presses the row's Replay button whatever its state: {"disabled": its state}, or None."""
    button = replay_button(driver, reason)
    if button is None:
        return None
    disabled = not button.is_enabled()
    button.click()
    return {"disabled": disabled}


def is_stale(element):
    try:
        element.is_enabled()
        return False
    except StaleElementReferenceException:
        return True


def final_note(driver):
    """The replay note once the request is answered (not while it says the replay is starting)."""
    note = driver.find_element(By.ID, "replay-note").text
    return note if note and not note.startswith("Starting") else None


def open_prompt(driver):
    try:
        return driver.switch_to.alert
    except NoAlertPresentException:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--reason", required=True)
    ap.add_argument("--count", required=True, type=int)
    ap.add_argument("--expect", required=True, choices=["started", "refused"])
    ap.add_argument("--screenshot", required=True)
    args = ap.parse_args()

    driver = open_browser()
    result = {}
    ok = False
    try:
        open_signed_in(driver, args.url, args.token)
        # The dead letters' acks reach the topic after the run counts them: wait for the full count.
        cells = wait(lambda: (lambda c: c if c and c[1] == str(args.count) else None)(reason_row(driver, args.reason)),
                     60, "the %s row with %d letters" % (args.reason, args.count))
        result["row"] = cells
        result["panel_total"] = driver.find_element(By.ID, "dl-total").text
        pressed, result["button_label"] = wait(lambda: press_replay(driver, args.reason), 30, "the Replay button of " + args.reason)

        if args.expect == "refused":
            # Refused, the page asks for an operator token; this person has none and cancels.
            prompt = wait(lambda: open_prompt(driver), 30, "the page to ask for an operator token")
            result["prompt"] = prompt.text
            prompt.dismiss()
        else:
            # The panel re-renders while the request waits for the first delivery: its fresh
            # button stays disabled, and pressing it again sends nothing.
            wait(lambda: is_stale(pressed) and final_note(driver) is None, 30,
                 "the panel to re-render while the replay request is pending")
            result["disabled_while_pending"] = wait(lambda: press_again(driver, args.reason), 10, "the re-rendered Replay button")["disabled"]
        note = wait(lambda: final_note(driver), 60, "the replay note")
        result["note"] = note
        started = STARTED.match(note)
        if started:
            result["name"], result["letters"] = started.group(1), int(started.group(2))
        result["horizontal_overflow"] = overflows_horizontally(driver)
        result["clipped_panels"] = clipped_panels(driver)
        driver.save_screenshot(args.screenshot)
        if args.expect == "started":
            ok = result.get("letters") == args.count and result.get("disabled_while_pending")
        else:
            ok = note.startswith("Replay refused (HTTP 403): ") and "operator" in result.get("prompt", "")
        ok = ok and not result["horizontal_overflow"] and not result["clipped_panels"]
    finally:
        driver.quit()
    print(json.dumps(result))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
