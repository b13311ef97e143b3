// The hedgehog, Burrow's mascot, drawn so it looks the same on every system (emoji fonts vary).

export function Hedgehog({ size = 24, className }: { size?: number; className?: string }) {
  return (
    <svg
      className={className}
      width={size}
      height={size}
      viewBox="0 0 64 56"
      aria-hidden="true"
      focusable="false"
    >
      <path d="M4.1 38.1 L-0.8 35.0 L5.0 33.8 L0.9 29.9 L6.7 29.8 L3.5 25.3 L9.3 26.2 L7.2 21.1 L12.7 23.1 L11.6 17.7 L16.6 20.6 L16.7 15.2 L21.0 19.0 L22.2 13.7 L25.6 18.1 L28.0 13.2 L30.4 18.1 L33.8 13.7 L35.0 19.0 L39.3 15.2 L39.4 20.6 L44.4 17.7 L43.3 23.1 L48.8 21.1 L46.7 26.2 L52.5 25.3 L49.3 29.8 L55.1 29.9 L51.0 33.8 L56.8 35.0 L51.9 38.1 L52 44 L6 46 Z" fill="#6b4a34" />
      <ellipse cx="30" cy="42" rx="22" ry="11" fill="#8a6448" />
      <path d="M38 30 C50 28 60 36 62 43 C58 48 48 50 38 47 Z" fill="#e8c9a4" />
      <circle cx="61.5" cy="43" r="2.6" fill="#2a1d14" />
      <circle cx="49" cy="37" r="2.2" fill="#2a1d14" />
      <ellipse cx="18" cy="52" rx="4" ry="2.6" fill="#5a3d2a" />
      <ellipse cx="40" cy="52" rx="4" ry="2.6" fill="#5a3d2a" />
    </svg>
  );
}
