// Scroll boxes that end at the window's bottom edge: a flame graph's root
// (and the status line under it) is on screen without scrolling the page,
// at 1280x800 as on a tall monitor, and again after every resize.

const fitted = new Set();

// Sizes `box` (max-height) to reach `gap` px above the window's bottom. The
// floor is low (120 px, about six frames) so that the root stays on screen in
// a short window too, even when the legend above wraps to a second line.
export function fitToWindow(box, { min = 120, gap = 44 } = {}) {
  fitted.add(box);
  if (!box.isConnected || !box.offsetParent) return;
  const top = box.getBoundingClientRect().top + window.scrollY;
  box.style.maxHeight = `${Math.max(min, Math.floor(window.innerHeight - top - gap))}px`;
  box.fitGap = gap;
  box.fitMin = min;
}

window.addEventListener("resize", () => {
  for (const box of fitted) {
    if (!box.isConnected) fitted.delete(box);
    else fitToWindow(box, { min: box.fitMin, gap: box.fitGap });
  }
});
