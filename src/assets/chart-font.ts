import { createRequire } from 'node:module';

// The one typeface of the charts and the dashboard pages: IBM Plex Sans (SIL Open Font License 1.1), regular
// and bold, from the @expo-google-fonts/ibm-plex-sans package pinned in package-lock. resvg draws the PNGs of
// render_insight with these files and no system font, and the pages serve the same files to the browser
// (@font-face), so a chart looks the same on every machine whatever fonts the OS has.

export const CHART_FONT_FAMILY = 'IBM Plex Sans';

const resolve = createRequire(import.meta.url).resolve;

/** The font files by the name the pages serve them under (`/fonts/{file}`). */
export const FONT_FILES = {
  'ibm-plex-sans-400.ttf': resolve('@expo-google-fonts/ibm-plex-sans/400Regular/IBMPlexSans_400Regular.ttf'),
  'ibm-plex-sans-700.ttf': resolve('@expo-google-fonts/ibm-plex-sans/700Bold/IBMPlexSans_700Bold.ttf'),
} as const;

export type FontFile = keyof typeof FONT_FILES;
