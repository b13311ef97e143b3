// Loads the terminal (xterm.js) on demand, keeping it out of the main bundle.
import { lazy, Suspense, type ComponentProps } from 'react';
import { Skeleton } from './Spinner';

export type { TerminalHandle, TerminalState } from './Terminal';

const Term = lazy(() => import('./Terminal').then((m) => ({ default: m.Terminal })));

export function Terminal(props: ComponentProps<typeof Term>) {
  return (
    <Suspense fallback={<Skeleton height="100%" width="100%" />}>
      <Term {...props} />
    </Suspense>
  );
}
