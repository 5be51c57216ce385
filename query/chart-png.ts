/**
 * The chart scene rendered to PNG in plain JavaScript: no native module, no browser, no system package. Lines are
 * anti-aliased by distance to the segment, rectangles by pixel coverage, text is a 5x7 bitmap font (upper case,
 * digits and the punctuation charts need) scaled to the requested size. Encoded as 8-bit RGB PNG with node:zlib.
 */
import { deflateSync } from 'node:zlib';
import type { Color, Scene } from './chart.ts';

/** 5x7 glyphs, rows top to bottom ('1' = ink). Lower case is drawn as upper case; anything else as '?'. */
const GLYPHS: Record<string, readonly string[]> = {
  ' ': ['00000', '00000', '00000', '00000', '00000', '00000', '00000'],
  '0': ['01110', '10001', '10011', '10101', '11001', '10001', '01110'],
  '1': ['00100', '01100', '00100', '00100', '00100', '00100', '01110'],
  '2': ['01110', '10001', '00001', '00010', '00100', '01000', '11111'],
  '3': ['11111', '00010', '00100', '00010', '00001', '10001', '01110'],
  '4': ['00010', '00110', '01010', '10010', '11111', '00010', '00010'],
  '5': ['11111', '10000', '11110', '00001', '00001', '10001', '01110'],
  '6': ['00110', '01000', '10000', '11110', '10001', '10001', '01110'],
  '7': ['11111', '00001', '00010', '00100', '01000', '01000', '01000'],
  '8': ['01110', '10001', '10001', '01110', '10001', '10001', '01110'],
  '9': ['01110', '10001', '10001', '01111', '00001', '00010', '01100'],
  A: ['01110', '10001', '10001', '11111', '10001', '10001', '10001'],
  B: ['11110', '10001', '10001', '11110', '10001', '10001', '11110'],
  C: ['01110', '10001', '10000', '10000', '10000', '10001', '01110'],
  D: ['11100', '10010', '10001', '10001', '10001', '10010', '11100'],
  E: ['11111', '10000', '10000', '11110', '10000', '10000', '11111'],
  F: ['11111', '10000', '10000', '11110', '10000', '10000', '10000'],
  G: ['01110', '10001', '10000', '10111', '10001', '10001', '01111'],
  H: ['10001', '10001', '10001', '11111', '10001', '10001', '10001'],
  I: ['01110', '00100', '00100', '00100', '00100', '00100', '01110'],
  J: ['00111', '00010', '00010', '00010', '00010', '10010', '01100'],
  K: ['10001', '10010', '10100', '11000', '10100', '10010', '10001'],
  L: ['10000', '10000', '10000', '10000', '10000', '10000', '11111'],
  M: ['10001', '11011', '10101', '10101', '10001', '10001', '10001'],
  N: ['10001', '10001', '11001', '10101', '10011', '10001', '10001'],
  O: ['01110', '10001', '10001', '10001', '10001', '10001', '01110'],
  P: ['11110', '10001', '10001', '11110', '10000', '10000', '10000'],
  Q: ['01110', '10001', '10001', '10001', '10101', '10010', '01101'],
  R: ['11110', '10001', '10001', '11110', '10100', '10010', '10001'],
  S: ['01111', '10000', '10000', '01110', '00001', '00001', '11110'],
  T: ['11111', '00100', '00100', '00100', '00100', '00100', '00100'],
  U: ['10001', '10001', '10001', '10001', '10001', '10001', '01110'],
  V: ['10001', '10001', '10001', '10001', '10001', '01010', '00100'],
  W: ['10001', '10001', '10001', '10101', '10101', '10101', '01010'],
  X: ['10001', '10001', '01010', '00100', '01010', '10001', '10001'],
  Y: ['10001', '10001', '10001', '01010', '00100', '00100', '00100'],
  Z: ['11111', '00001', '00010', '00100', '01000', '10000', '11111'],
  '.': ['00000', '00000', '00000', '00000', '00000', '01100', '01100'],
  ',': ['00000', '00000', '00000', '00000', '01100', '00100', '01000'],
  ':': ['00000', '01100', '01100', '00000', '01100', '01100', '00000'],
  '-': ['00000', '00000', '00000', '11111', '00000', '00000', '00000'],
  '/': ['00000', '00001', '00010', '00100', '01000', '10000', '00000'],
  '(': ['00010', '00100', '01000', '01000', '01000', '00100', '00010'],
  ')': ['01000', '00100', '00010', '00010', '00010', '00100', '01000'],
  '%': ['11000', '11001', '00010', '00100', '01000', '10011', '00011'],
  '+': ['00000', '00100', '00100', '11111', '00100', '00100', '00000'],
  '_': ['00000', '00000', '00000', '00000', '00000', '00000', '11111'],
  '=': ['00000', '00000', '11111', '00000', '11111', '00000', '00000'],
  '>': ['01000', '00100', '00010', '00001', '00010', '00100', '01000'],
  '<': ['00010', '00100', '01000', '10000', '01000', '00100', '00010'],
  '?': ['01110', '10001', '00001', '00010', '00100', '00000', '00100'],
};

/** Pixels per glyph cell at scale 1: 5 wide plus 1 of spacing, 7 high. */
const CELL_W = 6;
const CELL_H = 7;

class Raster {
  readonly pixels: Uint8Array;

  constructor(readonly width: number, readonly height: number, background: Color) {
    this.pixels = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.pixels.set(background, i * 3);
  }

  /** Blends `color` over pixel (x, y) with coverage a in [0, 1]. */
  blend(x: number, y: number, color: Color, a: number): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || a <= 0) return;
    const i = (y * this.width + x) * 3;
    const k = Math.min(1, a);
    for (let c = 0; c < 3; c++) {
      const old = this.pixels[i + c] ?? 0;
      this.pixels[i + c] = Math.round(old + ((color[c] ?? 0) - old) * k);
    }
  }

  fillRect(x: number, y: number, w: number, h: number, color: Color): void {
    const x0 = Math.floor(x);
    const y0 = Math.floor(y);
    for (let py = y0; py < Math.ceil(y + h); py++) {
      const cy = Math.min(py + 1, y + h) - Math.max(py, y);
      for (let px = x0; px < Math.ceil(x + w); px++) {
        const cx = Math.min(px + 1, x + w) - Math.max(px, x);
        this.blend(px, py, color, cx * cy);
      }
    }
  }

  /** An anti-aliased segment: pixel coverage from its centre's distance to the segment. */
  segment(x1: number, y1: number, x2: number, y2: number, width: number, color: Color): void {
    const half = width / 2;
    const minX = Math.floor(Math.min(x1, x2) - half - 1);
    const maxX = Math.ceil(Math.max(x1, x2) + half + 1);
    const minY = Math.floor(Math.min(y1, y2) - half - 1);
    const maxY = Math.ceil(Math.max(y1, y2) + half + 1);
    const dx = x2 - x1;
    const dy = y2 - y1;
    const len2 = dx * dx + dy * dy;
    for (let py = minY; py <= maxY; py++) {
      for (let px = minX; px <= maxX; px++) {
        const cx = px + 0.5;
        const cy = py + 0.5;
        const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((cx - x1) * dx + (cy - y1) * dy) / len2));
        const d = Math.hypot(cx - (x1 + t * dx), cy - (y1 + t * dy));
        this.blend(px, py, color, Math.max(0, Math.min(1, half + 0.5 - d)));
      }
    }
  }

  text(x: number, y: number, text: string, size: number, color: Color, anchor: 'start' | 'middle' | 'end'): void {
    const scale = Math.max(1, Math.round(size / 8));
    const chars = [...text.toUpperCase()];
    const width = chars.length * CELL_W * scale - scale;
    let left = Math.round(anchor === 'start' ? x : anchor === 'middle' ? x - width / 2 : x - width);
    // The scene's y is the text baseline, as in SVG.
    const top = Math.round(y - CELL_H * scale);
    for (const ch of chars) {
      const rows = GLYPHS[ch] ?? GLYPHS['?'] ?? [];
      for (let row = 0; row < CELL_H; row++) {
        for (let col = 0; col < 5; col++) {
          if (rows[row]?.[col] === '1') this.fillRect(left + col * scale, top + row * scale, scale, scale, color);
        }
      }
      left += CELL_W * scale;
    }
  }
}

/** Renders a scene to RGB pixels. */
export function rasterize(scene: Scene): { width: number; height: number; pixels: Uint8Array } {
  const raster = new Raster(scene.width, scene.height, scene.background);
  for (const s of scene.shapes) {
    if (s.kind === 'rect') raster.fillRect(s.x, s.y, s.w, s.h, s.fill);
    else if (s.kind === 'line') {
      for (let i = 1; i < s.points.length; i++) {
        const [x1, y1] = s.points[i - 1] as readonly [number, number];
        const [x2, y2] = s.points[i] as readonly [number, number];
        raster.segment(x1, y1, x2, y2, s.width, s.stroke);
      }
    } else raster.text(s.x, s.y, s.text, s.size, s.fill, s.anchor);
  }
  return { width: scene.width, height: scene.height, pixels: raster.pixels };
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const body = Buffer.concat([head.subarray(4), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body), 0);
  return Buffer.concat([head.subarray(0, 4), body, crc]);
}

/** Encodes RGB pixels as a PNG file. */
export function encodePng(width: number, height: number, rgb: Uint8Array): Uint8Array {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    rows[y * (width * 3 + 1)] = 0; // filter: none
    rows.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(rows, { level: 9 })), chunk('IEND', new Uint8Array(0))]));
}

/** The scene as a PNG file. */
export function sceneToPng(scene: Scene): Uint8Array {
  const { width, height, pixels } = rasterize(scene);
  return encodePng(width, height, pixels);
}
