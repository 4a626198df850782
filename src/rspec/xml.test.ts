// What the manifest writes in an attribute reads back as the same value
// (tabs, newlines and returns escaped, not normalised away), and what XML
// cannot carry at all becomes U+FFFD rather than an ill-formed document.
import { DOMParser } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import { escapeAttr } from './xml.js';

const readBack = (v: string): string | null => {
  const doc = new DOMParser({ onError: (level, m) => { if (level !== 'warning') throw new Error(m); } }).parseFromString(`<a v="${escapeAttr(v)}"/>`, 'text/xml');
  return doc.documentElement!.getAttribute('v');
};

describe('escapeAttr', () => {
  it.each([
    ['plain', 'r1:if0', 'r1:if0'],
    ['markup', 'a<b>&"c\'', 'a<b>&"c\''],
    ['tab, newline, return', 'a\tb\nc\rd', 'a\tb\nc\rd'],
    ['a C0 control', 'a\u0001b', 'a\ufffdb'],
    ['a noncharacter', 'a\ufffeb', 'a\ufffdb'],
    ['a lone surrogate', 'a\ud800b', 'a\ufffdb'],
    ['a pair', 'a\u{1f600}b', 'a\u{1f600}b'],
  ])('%s', (_name, v, expected) => {
    expect(readBack(v)).toBe(expected);
  });
});
