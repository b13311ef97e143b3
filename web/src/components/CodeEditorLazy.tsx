// Loads the CodeMirror editor on demand (keeps it out of the main bundle) with a skeleton fallback.
import { lazy, Suspense, type ComponentProps } from 'react';
import { Skeleton } from './Spinner';

const Editor = lazy(() => import('./CodeEditor').then((m) => ({ default: m.CodeEditor })));

export function CodeEditor(props: ComponentProps<typeof Editor>) {
  return (
    <Suspense fallback={<Skeleton height={props.minHeight ?? 320} width="100%" />}>
      <Editor {...props} />
    </Suspense>
  );
}
