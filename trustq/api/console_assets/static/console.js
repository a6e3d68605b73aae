// Keyboard shortcuts of a case: r risky, t trustworthy (then type a note and press Enter;
// Escape leaves the note to choose again), c claim; on the queue, n works the next case.
// Keys typed into a text field are left alone.
"use strict";
document.addEventListener("keydown", (event) => {
  const target = event.target;
  const typing = target && (["TEXTAREA", "SELECT"].includes(target.tagName)
    || (target.tagName === "INPUT" && !["radio", "checkbox", "submit", "button"].includes(target.type)));
  if (typing) {
    if (event.key === "Escape") target.blur();  // back to the shortcuts
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const choose = (value) => {
    const radio = document.querySelector(`input[name="label"][value="${value}"]`);
    if (!radio) return;
    radio.checked = true;
    const note = document.getElementById("note");
    if (note) note.focus();
    event.preventDefault();
  };
  if (event.key === "r") choose("risky");
  else if (event.key === "t") choose("trustworthy");
  else if (event.key === "c") {
    const claim = document.getElementById("claim");
    if (claim) { event.preventDefault(); claim.click(); }
  } else if (event.key === "n") {
    const next = document.getElementById("next");
    if (next) { event.preventDefault(); next.requestSubmit(); }
  }
});
