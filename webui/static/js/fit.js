// Scroll boxes that end at the window's bottom edge: a flame graph's root
// (and the status line under it) is on screen without scrolling the page,
// at 1280x800 as on a tall monitor, and again after every resize or when
// what is above the box grows (a notice, chips, a wrapped legend).

const fitted = new Map(); // box -> its options

// Sizes `box` (max-height) to reach `gap` px above the window's bottom. The
// floor is low (120 px, about six frames) so that the root stays on screen in
// a short window too, even when the legend above wraps to a second line.
// `head`: where the box's panel starts (its toolbar). A box that starts under
// the fold (under a thread's tracks) is sized so that head, box and status
// line fit one window once the page is scrolled to the head.
export function fitToWindow(box, { min = 120, gap = 44, head = null } = {}) {
  fitted.set(box, { min, gap, head });
  fit(box, min, gap, head);
}

function fit(box, min, gap, head) {
  if (!box.isConnected || !box.offsetParent) return;
  const top = box.getBoundingClientRect().top;
  let room = window.innerHeight - (top + window.scrollY) - gap;
  // under the fold (less than half the floor would show): sized to be scrolled to
  if (room < min / 2 && head && head.isConnected) room = window.innerHeight - (top - head.getBoundingClientRect().top) - gap;
  box.style.maxHeight = `${Math.max(min, Math.floor(room))}px`;
}

function refitAll() {
  for (const [box, { min, gap, head }] of fitted) {
    if (!box.isConnected) fitted.delete(box);
    else fit(box, min, gap, head);
  }
}

// Once per frame at most, and outside the observer's callback (no resize loop).
let pending = false;
function refitSoon() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    refitAll();
  });
}

window.addEventListener("resize", refitAll);
new ResizeObserver(refitSoon).observe(document.body);
