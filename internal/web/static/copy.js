// Copy buttons: each button.copy copies the text of the element whose id
// is its data-target. The buttons are hidden until this script shows them,
// so that a page without JavaScript shows none.
document.querySelectorAll("button.copy").forEach(function (b) {
  b.hidden = false;
  b.addEventListener("click", function () {
    var el = document.getElementById(b.dataset.target);
    if (!el) { return; }
    var text = el.textContent;
    var done = function () { b.textContent = "copied"; setTimeout(function () { b.textContent = "copy"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { b.textContent = "copy failed"; });
      return;
    }
    var r = document.createRange();
    r.selectNodeContents(el);
    var s = window.getSelection();
    s.removeAllRanges();
    s.addRange(r);
    try { document.execCommand("copy"); done(); } catch (e) { b.textContent = "press Ctrl+C"; }
  });
});
