// Numbers, dates and names as Hanoi's officials write them: decimals with
// a comma (86,93), dates dd/mm/yyyy, times in Hanoi (UTC+7, no daylight
// saving). The API sends points as exact decimal strings; they are never
// turned into binary floating point for display.

const HANOI_OFFSET_MS = 7 * 3600 * 1000;

// decimal writes an API decimal string ("86.93", "-0.5") with a comma.
// With digits set, it pads or rounds half up to that many decimals,
// on the digits themselves.
export function decimal(s, digits) {
  if (s === undefined || s === null || s === '') return '';
  let str = String(s);
  let sign = '';
  if (str.startsWith('-')) { sign = '−'; str = str.slice(1); }
  let [int, frac = ''] = str.split('.');
  if (digits !== undefined) {
    if (frac.length > digits) {
      const up = Number(frac[digits]) >= 5;
      frac = frac.slice(0, digits);
      if (up) [int, frac] = roundUp(int, frac);
    }
    frac = frac.padEnd(digits, '0');
  }
  if (/^0*$/.test(int + frac)) sign = '';
  return sign + int + (frac ? ',' + frac : '');
}

// roundUp adds one unit in the last place of int.frac, digit by digit.
function roundUp(int, frac) {
  const digits = (int + frac).split('').map(Number);
  let i = digits.length - 1;
  while (i >= 0) {
    if (digits[i] < 9) { digits[i]++; break; }
    digits[i] = 0;
    i--;
  }
  let all = digits.join('');
  if (i < 0) all = '1' + all;
  const cut = all.length - frac.length;
  return [all.slice(0, cut), all.slice(cut)];
}

// percent writes an index with two decimals: "86.9" → "86,90".
export function percent(s) { return decimal(s, 2); }

// signed writes a delta with its sign: "+0,25", "−1", "0".
export function signed(s) {
  const d = decimal(s);
  if (d === '' || d === '0' || d.startsWith('−')) return d;
  return '+' + d;
}

// toNumber reads a decimal string for a chart's geometry (never for
// display or arithmetic on points).
export function toNumber(s) {
  const n = Number(s);
  return Number.isFinite(n) ? n : 0;
}

// isZero reports whether a decimal string is zero.
export function isZero(s) { return !s || /^-?0*(\.0*)?$/.test(String(s)); }

const pad = (n) => String(n).padStart(2, '0');

// date writes a calendar date "2017-10-30" as "30/10/2017".
export function date(s) {
  if (!s) return '';
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(s);
  return m ? `${m[3]}/${m[2]}/${m[1]}` : s;
}

// hanoi returns the wall-clock fields of an instant in Hanoi.
function hanoi(t) {
  const d = new Date(new Date(t).getTime() + HANOI_OFFSET_MS);
  return { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds() };
}

// dateTime writes an RFC 3339 instant as "30/10/2017 17:05" in Hanoi.
export function dateTime(t, seconds = false) {
  if (!t) return '';
  const x = hanoi(t);
  if (Number.isNaN(x.y)) return String(t);
  return `${pad(x.d)}/${pad(x.mo)}/${x.y} ${pad(x.h)}:${pad(x.mi)}${seconds ? ':' + pad(x.s) : ''}`;
}

// clock writes the time of day of an instant in Hanoi: "17:05:09".
export function clock(t) {
  const x = hanoi(t);
  return `${pad(x.h)}:${pad(x.mi)}:${pad(x.s)}`;
}

// parseDateTime reads "30/10/2017" and "17:00" typed by a person in Hanoi
// and returns the instant in RFC 3339 with Hanoi's offset, or throws an
// Error whose message says what is wrong, in Vietnamese.
export function parseDateTime(dateText, timeText) {
  const dm = /^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$/.exec(dateText || '');
  if (!dm) throw new Error('Ngày phải viết dạng dd/mm/yyyy, ví dụ 15/11/2017.');
  const tm = /^\s*(\d{1,2})(?::(\d{2}))?\s*$/.exec(timeText || '00:00');
  if (!tm) throw new Error('Giờ phải viết dạng hh:mm, ví dụ 17:00.');
  const [d, mo, y, h, mi] = [+dm[1], +dm[2], +dm[3], +tm[1], +(tm[2] || 0)];
  const probe = new Date(Date.UTC(y, mo - 1, d));
  if (probe.getUTCDate() !== d || probe.getUTCMonth() !== mo - 1 || h > 23 || mi > 59) {
    throw new Error('Ngày hoặc giờ không tồn tại.');
  }
  return `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:00+07:00`;
}

// shortName shortens a unit's name for a chart label: districts lose
// "UBND" (Q. Cầu Giấy, H. Ba Vì, TX. Sơn Tây); long names are cut.
export function shortName(name, max = 28) {
  let s = name
    .replace(/^UBND quận /, 'Q. ')
    .replace(/^UBND huyện /, 'H. ')
    .replace(/^UBND thị xã /, 'TX. ')
    .replace(/^Ban Quản lý các khu công nghiệp và chế xuất Hà Nội$/, 'BQL các KCN và CX')
    .replace(/ Thành phố$/, ' TP');
  if (s.length > max) s = s.slice(0, max - 1).trimEnd() + '…';
  return s;
}

// Labels of the API's codes.
export const blockLabel = { so: 'Khối sở, ban, ngành', huyen: 'Khối quận, huyện, thị xã' };

export const statusLabel = {
  'not-started': 'Chưa tự chấm',
  'in-progress': 'Đang tự chấm',
  submitted: 'Đã nộp',
  finalized: 'Đã chốt điểm',
};

export const phaseLabel = {
  'self-assessment': 'Tự đánh giá',
  appraisal: 'Thẩm định',
  explanation: 'Giải trình',
  compilation: 'Tổng hợp, trình Hội đồng',
  published: 'Đã công bố',
};

export const roleLabel = {
  public: 'Công chúng',
  unit: 'Đơn vị',
  appraiser: 'Cơ quan thẩm định',
  'home-affairs': 'Sở Nội vụ',
  council: 'Hội đồng thẩm định',
  institute: 'Viện NC phát triển KT-XH',
  auditor: 'Thanh tra, kiểm toán',
};

export const eventLabel = {
  SelfScoreRecorded: 'Tự chấm điểm',
  EvidenceAttached: 'Đính kèm tài liệu kiểm chứng',
  EvidenceWithdrawn: 'Rút tài liệu kiểm chứng',
  SelfAssessmentSubmitted: 'Nộp báo cáo tự đánh giá',
  SubmissionReopened: 'Mở lại để chỉnh sửa',
  AppraisalRecorded: 'Thẩm định',
  SurveyScoreRecorded: 'Điểm điều tra XHH',
  BonusPenaltyRecorded: 'Điểm thưởng, điểm trừ',
  ExplanationRaised: 'Gửi giải trình',
  ExplanationResolved: 'Kết luận giải trình',
  AssessmentFinalized: 'Chốt kết quả',
};

// valueLabel names the recorded values of an item in the audit trail.
export const valueLabel = {
  self: 'Tự chấm',
  appraisedRound1: 'Thẩm định lần 1',
  appraisedRound2: 'Thẩm định lần 2',
  survey: 'ĐTXHH',
  adjustment: 'Thưởng/trừ',
  council: 'Hội đồng',
};
