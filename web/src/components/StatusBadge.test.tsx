// Tests for the app status and build badges.
import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import { BuildBadge, StatusBadge } from './StatusBadge';
import type { AppStatus } from '../api/types';

describe('StatusBadge', () => {
  it.each<[AppStatus, string]>([
    ['running', 'success'],
    ['starting', 'warning'],
    ['stopped', 'neutral'],
    ['error', 'danger'],
  ])('shows %s as text with the %s tone', (status, tone) => {
    render(<StatusBadge status={status} testId="app-status" />);
    const badge = screen.getByTestId('app-status');
    expect(badge).toHaveTextContent(new RegExp(`^${status}$`));
    expect(badge).toHaveAttribute('data-tone', tone);
    expect(badge).toHaveClass(`badge-${tone}`);
  });

  it('labels builds in words', () => {
    render(<BuildBadge status="failed" />);
    expect(screen.getByText('build failed')).toHaveAttribute('data-tone', 'danger');
  });
});
