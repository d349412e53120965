// companion clinic portal: copy the client's link, print the aftercare card.
// No inline scripts or handlers anywhere in the portal: a strict CSP is planned.
(function () {
  "use strict";
  // The page's words (i18n.js); a page without them shows the English.
  var words = window.companionI18n || { gettext: function (text) { return text; } };
  var gettext = words.gettext;

  // Copy: a button with data-copy="<id>" copies that element's text.
  function copy(button) {
    var id = button.getAttribute("data-copy");
    var source = document.getElementById(id);
    var status = document.querySelector('[data-copied-for="' + id + '"]');
    var text = source.textContent.trim();
    function done(message) { if (status) status.textContent = message; }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(gettext("Copied.")); },
        function () { done(gettext("Could not copy: select the link and copy it.")); });
    } else {
      // Plain http on a local network: select the link so one more tap copies it.
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      done(document.execCommand && document.execCommand("copy")
        ? gettext("Copied.") : gettext("Link selected: copy it now."));
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-copy], [data-print]");
    if (!target) return;
    if (target.hasAttribute("data-copy")) copy(target);
    else window.print();
  });

  // After a refused form, take keyboard and screen-reader focus to the list of problems.
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
