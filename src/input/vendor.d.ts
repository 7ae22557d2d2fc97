// html-encoding-sniffer ships no types; this is the one call we make.
declare module 'html-encoding-sniffer' {
  export default function htmlEncodingSniffer(
    bytes: Uint8Array,
    options?: { transportLayerEncodingLabel?: string; defaultEncoding?: string; maxPrescanBytes?: number; xml?: boolean },
  ): string;
}
