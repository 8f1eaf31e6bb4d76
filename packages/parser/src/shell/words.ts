import { isGoSpace } from '../go-text.js';

/**
 * Word splitting after expansion (BuildKit's `wordsStruct`). Characters
 * typed in the word and text that came from `$` expansions split on Go's
 * white space; quoted text and escaped characters never split. An empty
 * quoted string makes no word of its own (`"" a` is one word, `a`).
 */
export class WordSplitter {
  private readonly words: string[] = [];
  private current = '';
  private inWord = false;

  /** One character that splits on white space. */
  addChar(ch: number): void {
    if (isGoSpace(ch)) {
      if (this.inWord && this.current.length !== 0) {
        this.words.push(this.current);
        this.current = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }

  /** One character that never splits (escaped). */
  addRawChar(ch: number): void {
    this.current += String.fromCodePoint(ch);
    this.inWord = true;
  }

  /** Text from a `$` expansion: splits on white space. */
  addString(text: string): void {
    this.addPlain(text, 0, text.length);
  }

  /** `text[from..to)` of ordinary characters: as `addChar` for each, a slice at a time. */
  addPlain(text: string, from: number, to: number): void {
    let start = from;
    for (let i = from; i < to; i++) {
      // Every Go space is in the BMP, so code units suffice (surrogates are never spaces).
      if (!isGoSpace(text.charCodeAt(i))) continue;
      if (i > start) this.addRawString(text.slice(start, i));
      if (this.inWord && this.current.length !== 0) {
        this.words.push(this.current);
        this.current = '';
        this.inWord = false;
      }
      start = i + 1;
    }
    if (to > start) this.addRawString(text.slice(start, to));
  }

  /** Quoted text: never splits. */
  addRawString(text: string): void {
    this.current += text;
    this.inWord = true;
  }

  /** The words, the last one included. */
  finish(): string[] {
    if (this.current.length > 0) {
      this.words.push(this.current);
      this.current = '';
      this.inWord = false;
    }
    return this.words;
  }
}
