/** Aggregates trades into an OHLCV bar, in integer ticks and size units so open/high/low/close/volume stay exact. */
import type { AlpacaBar } from './alpaca-messages.ts';

export class BarBuilder {
  private openTicks = 0;
  private highTicks = 0;
  private lowTicks = 0;
  private closeTicks = 0;
  private volumeUnits = 0;
  private notional = 0;
  private count = 0;

  constructor(
    readonly symbol: string,
    private readonly priceScale: number,
    private readonly sizeScale: number,
  ) {}

  get tradeCount(): number {
    return this.count;
  }

  add(priceTicks: number, sizeUnits: number): void {
    if (this.count === 0) {
      this.openTicks = priceTicks;
      this.highTicks = priceTicks;
      this.lowTicks = priceTicks;
    } else {
      if (priceTicks > this.highTicks) this.highTicks = priceTicks;
      if (priceTicks < this.lowTicks) this.lowTicks = priceTicks;
    }
    this.closeTicks = priceTicks;
    this.volumeUnits += sizeUnits;
    this.notional += priceTicks * sizeUnits;
    this.count++;
  }

  /** The bar so far; `startTime` is the RFC 3339 start of its period. Undefined when no trade was added. */
  toMessage(type: AlpacaBar['T'], startTime: string): AlpacaBar | undefined {
    if (this.count === 0) return undefined;
    return {
      T: type,
      S: this.symbol,
      o: this.openTicks / this.priceScale,
      h: this.highTicks / this.priceScale,
      l: this.lowTicks / this.priceScale,
      c: this.closeTicks / this.priceScale,
      v: this.volumeUnits / this.sizeScale,
      t: startTime,
      n: this.count,
      vw: this.notional / this.volumeUnits / this.priceScale,
    };
  }

  reset(): void {
    this.count = 0;
    this.volumeUnits = 0;
    this.notional = 0;
  }
}
