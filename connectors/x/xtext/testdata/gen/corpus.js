// corpus.js generates texts that exercise every rule of X's counter and
// writes them with twitter-text's verdicts, one JSON object a line:
// {"text", "weightedLength", "valid", "urls"}. testdata/differential.jsonl.gz is
// its output with the seed below; the Go test replays it without node:
//
//	NODE_PATH=/tmp/tt/node_modules node testdata/gen/corpus.js 20240601 5000 | gzip -n9 > testdata/differential.jsonl.gz
'use strict';
const tt = require('twitter-text');

let seed = Number(process.argv[2] || 1) >>> 0;
const count = Number(process.argv[3] || 1000);
function rnd() { // mulberry32: the corpus is the same on every run
  seed = (seed + 0x6D2B79F5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const many = (f, max) => { let s = ''; const n = 1 + Math.floor(rnd() * max); for (let i = 0; i < n; i++) s += f(); return s; };

const tlds = ['com', 'net', 'org', 'co', 'jp', 'so', 'it', 'io', 'ly', 'tv', 'uk', 'de', 'みんな', '中国', 'پاکستان', 'рф', 'РФ', 'COM', 'Com', 'bz2', 'comm', 'community', 'xn--p1ai', 'XN--ls8h', 'onion', 'x', 'c_o_m', 'coſ', 'co\u212A'];
const words = ['hello', 'Test', 'late', 'again', 'train', 'ELPAÍS', 'café', 'naïve', 'Русские', 'слова', '日本語', '中国語', '한국', 'テスト', 'שּׁ', 'e\u0301', 'A\u030A', 'ﬁ', 'ſ', 'ß', 'ı', 'ɠ', 'K', 'Å'];
const emoji = ['😀', '👍🏽', '👨\u200d👩\u200d👧\u200d👦', '🇵🇹', '1️⃣', '#⃣', '©', '©\uFE0F', '☕', '☺', '☺\uFE0E', '✌\uFE0E', '✌\uFE0F', '✌🏿', '🏋\uFE0E', '🏳️\u200d🌈', '🧑\u200d🤝\u200d🧑', '🥱', '❤️\u200d🔥', '🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}', '\uFE0F', '\u200D', '👨\u200d🎤', '🙋🏽', '⛹🏽\u200d♀️', '🤷\u200d♂️'];
const marks = ['\u2066', '\u202A', '\u202C', '\u2069', '\u200E', '\u200F', '\u061C', '\uFFFE', '\uFEFF', '\uFFFF', '\u00A0', '\u3000', '\u2028', '\u200B', '\u2013', '…', '“', '”', '‘', '\u2032', '\u2038', '\u3002', '\uFF0E'];
const punct = [' ', ' ', ' ', '.', ',', '!', '?', ':', ';', '(', ')', '[', ']', '"', "'", '-', '_', '/', '@', '＠', '$', '#', '＃', '&', '=', '+', '%', '~', '|', '*', '\n', '\t', '<', '>', '`', '^', '\\'];
const label = () => pick([
  () => many(() => pick('abcdefghijklmnopqrstuvwxyz0123456789'), 10),
  () => many(() => pick('abcXYZ-_0'), 6),
  () => pick(words),
  () => many(() => pick(['あ', '漢', '☃', '✪', 'ä', 'Í']), 4),
  () => 'a'.repeat(55 + Math.floor(rnd() * 15)),
  () => many(() => pick(['あ', 'い']), 30),
  () => 'xn--' + many(() => pick('abc123-'), 6),
  () => pick(emoji),
])();
const domain = () => { let d = ''; const n = Math.floor(rnd() * 3); for (let i = 0; i <= n; i++) d += label() + '.'; return d + pick(tlds); };
const pathPart = () => pick([
  () => '/' + many(() => pick(['a', 'b', 'Z', '1', '-', '_', '.', ',', '!', '/', '=', '+', '#', '~', '@', '|', '&', '$', "'", ';', ':', '%', '*', '[', ']', 'é', 'ж', '\u2013', '漢']), 12),
  () => '/wiki/Primer_(film)', () => '/a(b(c)d)e', () => '/x()', () => '/(a', () => '/', () => '/.',
  () => '?' + many(() => pick(['a', '=', '&', '?', '!', '.', ',', '(', ')', '-', '_', '#', '/', '%', '+']), 10),
  () => ':' + Math.floor(rnd() * 9000), () => ':', () => '/' + '漢'.repeat(20),
])();
const url = () => pick(['', '', 'http://', 'https://', 'HTTPS://', 'http:// ', 'ftp://', 'hTtP://']) + pick([
  domain, domain, domain,
  () => 't.co/' + many(() => pick('aZ09'), pick([5, 10, 45])),
  () => 'T.CO', () => '192.168.0.1', () => 'localhost',
])() + (rnd() < 0.6 ? many(pathPart, 3) : '');
const token = () => pick([url, url, label, label, () => pick(words), () => pick(emoji), () => pick(marks), () => pick(punct), () => pick(punct), () => String.fromCodePoint(Math.floor(rnd() * 0x30000))])();

const seen = new Set();
for (let made = 0; made < count;) {
  let s = '';
  const target = pick([2, 5, 10, 20, 40]);
  for (let i = 0; i < target; i++) s += token();
  if (rnd() < 0.05) s = s.repeat(2 + Math.floor(rnd() * 4));
  if (seen.has(s) || s.length > 1000 || /[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) continue;
  seen.add(s);
  const r = tt.parseTweet(s);
  const urls = tt.extractUrlsWithIndices(s.normalize()).map((e) => e.url);
  process.stdout.write(JSON.stringify({ text: s, weightedLength: r.weightedLength, valid: r.valid, urls }) + '\n');
  made++;
}
