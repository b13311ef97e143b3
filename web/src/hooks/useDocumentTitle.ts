// Sets document.title from parts, e.g. ["CSV Explorer", "Apps"] → "CSV Explorer · Apps · Burrow".
import { useEffect } from 'react';

export function useDocumentTitle(...parts: Array<string | undefined | null | false>): void {
  const title = [...parts.filter(Boolean), 'Burrow'].join(' · ');
  useEffect(() => {
    document.title = title;
  }, [title]);
}
