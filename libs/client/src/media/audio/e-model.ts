/**
 * Voice quality from loss and delay with the ITU-T G.107 E-model, default
 * parameters: R = 93.2 - Id - Ie,eff (the room, circuit-noise and
 * advantage terms at their defaults), then MOS from R (G.107 Annex B).
 *
 * Constants, and where they come from:
 * - 93.2: R of the default E-model with no delay and no equipment impairment (G.107).
 * - Id: the delay impairment of G.107 with default echo parameters, in the
 *   closed form of Cole and Rosenbluth (ACM CCR, 2001):
 *   Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3), d = mouth-to-ear delay in ms.
 * - Ie,eff = Ie + (95 - Ie) · Ppl / (Ppl / BurstR + Bpl) (G.107 section 7.5).
 * - Opus: G.113 lists no Ie/Bpl for Opus. We take Ie = 0 and Bpl = 25.1,
 *   G.113 Appendix I's values for G.711 with packet-loss concealment: a
 *   wideband codec at 24 kbit/s is rated no worse than G.711 on this
 *   narrowband scale, and Opus conceals loss at least as well. An
 *   assumption, stated so a reader can replace it.
 * - BurstR = 1 for random loss; for Gilbert–Elliott loss 1 / (p + q) (G.107).
 */
export const E_MODEL_R0 = 93.2;
export const OPUS_IE = 0;
export const OPUS_BPL = 25.1;

export function delayImpairment(mouthToEarMs: number): number {
  const d = Math.max(0, mouthToEarMs);
  return 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0);
}

/** `lossPercent`: packets lost after any recovery, in percent. */
export function effectiveEquipmentImpairment(lossPercent: number, ie = OPUS_IE, bpl = OPUS_BPL, burstR = 1): number {
  const ppl = Math.min(100, Math.max(0, lossPercent));
  return ie + ((95 - ie) * ppl) / (ppl / burstR + bpl);
}

export function rFactor(input: { mouthToEarMs: number; lossPercent: number; burstR?: number; ie?: number; bpl?: number }): number {
  return (
    E_MODEL_R0 - delayImpairment(input.mouthToEarMs) - effectiveEquipmentImpairment(input.lossPercent, input.ie, input.bpl, input.burstR)
  );
}

export function mosFromR(r: number): number {
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
}
