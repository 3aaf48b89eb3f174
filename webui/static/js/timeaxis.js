// Ticks of a time axis, for every chart over time (the traces' scatter, the
// timeline, thread tracks): one place that picks a round step from the span on
// screen and writes each label to that step's precision, so labels never
// repeat (three "07:12:03" a few hundred ms apart) and stay readable at every
// zoom, from microseconds to weeks.

import { fmtClock, fmtDate } from "./format.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

// Clock steps (ms): 1-2-5 below a second, then what a clock reads in.
const CLOCK_STEPS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500,
  SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND,
  MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR,
  DAY, 2 * DAY, 7 * DAY,
];

// 1, 2 or 5 times a power of ten at or above `raw` (ms, offsets and sub-ms).
function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

// The smallest step at least `raw` ms: sub-millisecond ones by 1-2-5.
function clockStep(raw) {
  if (raw < 1) return niceStep(raw);
  return CLOCK_STEPS.find((s) => s >= raw) || Math.ceil(raw / (7 * DAY)) * 7 * DAY;
}

// ms of the local midnight at or after `ms`.
function nextMidnight(ms) {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  if (d.getTime() < ms) d.setDate(d.getDate() + 1);
  return d.getTime();
}

// A clock label to the precision of `step`: seconds' fraction below a second
// (ms, or µs below a ms), seconds below a minute, else hours and minutes,
// after the day (MM-DD) when the axis spans days; a local midnight (or any
// tick of a step of days) reads as its date.
function clockLabel(ms, step, days) {
  if (step < SECOND) return fmtClock(ms, false, step < 1 ? 6 : 3);
  if (step < MINUTE) return fmtClock(ms);
  if (step >= DAY || nextMidnight(ms) === ms) return fmtDate(ms);
  const hm = fmtClock(ms).slice(0, 5);
  return days ? `${fmtDate(ms).slice(5)} ${hm}` : hm;
}

// An offset from a start (the trace view's "time from start"), to the step's precision.
function offsetLabel(ms, step) {
  if (step >= 1000) return `${(ms / 1000).toFixed(step >= 10000 ? 0 : 1)} s`;
  if (step >= 1) return `${ms.toFixed(0)} ms`;
  if (step >= 0.1) return `${ms.toFixed(1)} ms`;
  return `${(ms * 1000).toFixed(0)} µs`;
}

// Ticks within [lo, hi] (ms) on an axis `px` pixels wide, at least `minGap`
// pixels apart: [{ ms, label }], ascending, labels distinct. With `origin`,
// labels count from it (a round step from the origin); else they are local
// clock times on round local times (whole seconds, minutes, hours, midnights).
export function timeTicks(lo, hi, px, { minGap = 110, origin = null } = {}) {
  if (!(hi > lo) || !(px > 0)) return [];
  const raw = ((hi - lo) / px) * minGap;
  const step = origin === null ? clockStep(raw) : niceStep(raw);
  const ticks = [];
  if (origin === null && step >= DAY) {
    const days = step / DAY;
    const d = new Date(nextMidnight(lo));
    for (let i = 0; d.getTime() <= hi && i < 1000; i++, d.setDate(d.getDate() + days)) {
      ticks.push({ ms: d.getTime(), label: clockLabel(d.getTime(), step, true) });
    }
    return ticks;
  }
  // Round in local time (a zone's offset is whole minutes, 30 or 45 in a few:
  // hour steps there round on the zone's own hours).
  // Counted from a whole ms below a ms step (which divides it): small counts, exact sums.
  const shift = origin === null ? -new Date(lo).getTimezoneOffset() * MINUTE : -origin;
  const base = step >= 1 ? 0 : Math.floor(lo + shift);
  for (let k = Math.ceil((lo + shift - base) / step); ticks.length < 1000; k++) {
    const ms = base + k * step - shift;
    if (ms > hi) break;
    ticks.push({ ms, label: origin === null ? clockLabel(ms, step, hi - lo > DAY) : offsetLabel(ms - origin, step) });
  }
  return ticks;
}
