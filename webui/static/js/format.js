// Number and time formatting shared by every view.

export function fmtDuration(ns) {
  const v = Number(ns) || 0;
  const abs = Math.abs(v);
  if (abs >= 3600e9) return (v / 3600e9).toFixed(2) + " h";
  if (abs >= 60e9) return (v / 60e9).toFixed(2) + " min";
  if (abs >= 1e9) return (v / 1e9).toFixed(2) + " s";
  if (abs >= 1e6) return (v / 1e6).toFixed(1) + " ms";
  if (abs >= 1e3) return (v / 1e3).toFixed(0) + " µs";
  return v.toFixed(0) + " ns";
}

// A value in its profile type's unit (`metadata.units` of a render): times,
// bytes, or counts of what the type counts (objects, contentions, goroutines).
export function fmtValue(value, units = "nanoseconds") {
  if (!units || units === "nanoseconds") return fmtDuration(value);
  const v = Number(value) || 0;
  const abs = Math.abs(v);
  if (units === "bytes") {
    const steps = [[2 ** 40, "TiB"], [2 ** 30, "GiB"], [2 ** 20, "MiB"], [2 ** 10, "KiB"]];
    for (const [size, name] of steps) if (abs >= size) return (v / size).toFixed(2) + " " + name;
    return v.toFixed(0) + " B";
  }
  const word = units === "count" ? "" : " " + units;
  if (abs >= 1e9) return (v / 1e9).toFixed(2) + " G" + word;
  if (abs >= 1e6) return (v / 1e6).toFixed(2) + " M" + word;
  if (abs >= 1e4) return (v / 1e3).toFixed(1) + " k" + word;
  return v.toFixed(0) + word;
}

export function fmtPercent(fraction, digits = 2) {
  if (!isFinite(fraction)) return "–";
  return (fraction * 100).toFixed(digits) + "%";
}

export function fmtSignedPercent(fraction, digits = 2) {
  if (!isFinite(fraction)) return "–";
  const sign = fraction > 0 ? "+" : "";
  return sign + (fraction * 100).toFixed(digits) + " pp";
}

// Local clock time, with `digits` of the second's fraction (3: ms, 6: µs),
// after the date with `withDate`. Truncated as a clock reads, once rounded to
// the µs: a tick computed as 249.99999 ms past a second reads .250.
export function fmtClock(ms, withDate = false, digits = 0) {
  const scale = 10 ** digits;
  const units = Math.floor(Math.round(ms * 1000) / 10 ** (6 - digits)); // in 1/scale s
  const whole = Math.floor(units / scale);
  const d = new Date(whole * 1000);
  let time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  if (digits) time += "." + String(units - whole * scale).padStart(digits, "0");
  return withDate ? `${fmtDate(whole * 1000)} ${time}` : time;
}

// Local date, YYYY-MM-DD.
export function fmtDate(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
}

function pad2(n) {
  return String(n).padStart(2, "0");
}

// Creates an element with text content only: data never becomes markup.
export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "hidden" || key === "disabled" || key === "checked" || key === "selected") node[key] = Boolean(value);
    else if (key === "value") node.value = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Legend swatches: one `<span class="item"><i></i>text</span>` per [colour, text].
export function swatches(items) {
  return items.map(([color, text]) => {
    const swatch = el("i");
    swatch.style.background = color;
    return el("span", { className: "item" }, [swatch, text]);
  });
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// Shows a tooltip element near the pointer, kept inside the window.
export function placeTooltip(tip, event) {
  tip.hidden = false;
  const pad = 14;
  const tw = tip.offsetWidth;
  const th = tip.offsetHeight;
  let left = event.clientX + pad;
  let top = event.clientY + pad;
  if (left + tw > window.innerWidth - 4) left = Math.max(4, event.clientX - tw - pad);
  if (top + th > window.innerHeight - 4) top = Math.max(4, event.clientY - th - pad);
  tip.style.left = left + "px";
  tip.style.top = top + "px";
}
