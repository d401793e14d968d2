// Renders the math that pymdownx.arithmatex (generic mode) leaves as \( .. \) and \[ .. \]
// inside span/div.arithmatex, with the local KaTeX copy. `document$` is Material's
// page-load observable, so math renders after instant navigation too.
function gradtxRenderMath(root) {
  root.querySelectorAll(".arithmatex").forEach(function (el) {
    renderMathInElement(el, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
        { left: "$$", right: "$$", display: true },
        { left: "$", right: "$", display: false },
      ],
      throwOnError: false,
    });
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(function (doc) { gradtxRenderMath(doc.body || document.body); });
} else {
  document.addEventListener("DOMContentLoaded", function () { gradtxRenderMath(document.body); });
}
