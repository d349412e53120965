// companion i18n: the page's words for its scripts. The server puts the translations the
// scripts need in <script type="application/json" id="i18n"> (English pages carry none: the
// English text is the key, as in the Babel catalogues the strings are extracted into).
(function () {
  "use strict";
  var words = null;
  function table() {
    if (words === null) {
      var block = document.getElementById("i18n");
      try { words = block ? JSON.parse(block.textContent) : {}; } catch (e) { words = {}; }
    }
    return words;
  }
  function fill(text, values) {
    return values ? text.replace(/%\((\w+)\)[sd]/g, function (all, name) {
      return name in values ? String(values[name]) : all;
    }) : text;
  }
  // gettext("Day %(day)s", {day: 3}); ngettext("%(num)d day", "%(num)d days", n, {num: n}).
  // Both languages shipped (English, Spanish) have one form for 1 and another for the rest.
  function gettext(text, values) {
    var found = table()[text];
    return fill(typeof found === "string" ? found : text, values);
  }
  function ngettext(one, many, n, values) {
    var found = table()[one];
    var forms = Array.isArray(found) ? found : [one, many];
    return fill(n === 1 ? forms[0] : forms[1], values);
  }
  window.companionI18n = { gettext: gettext, ngettext: ngettext, lang: document.documentElement.lang || "en" };
})();
