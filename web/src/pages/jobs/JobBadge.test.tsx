// Tests for the job status badge and durations.
import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import { JobBadge, formatDuration } from './JobBadge';

describe('JobBadge', () => {
  it('shows the status as text with its tone', () => {
    render(<JobBadge status="failed" />);
    const badge = screen.getByTestId('job-status');
    expect(badge.textContent).toBe('failed');
    expect(badge.dataset.tone).toBe('danger');
  });
});

describe('formatDuration', () => {
  it('reads as a person says it', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(4200)).toBe('4.2 s');
    expect(formatDuration(185_000)).toBe('3 min 5 s');
  });
});
