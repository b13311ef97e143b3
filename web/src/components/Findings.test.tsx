// Tests for rendering 422 findings inline, one row per file:line — message.
import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { Findings } from './Findings';
import { ApiError, parseError } from '../api/client';

describe('Findings', () => {
  it('renders one row per finding from a 422 body', async () => {
    const err: ApiError = await parseError(
      new Response(
        JSON.stringify({
          error: {
            code: 'bundle_invalid',
            message: 'the bundle was refused',
            details: [
              { file: 'app.py', line: 4, message: 'subprocess is not allowed' },
              { file: 'requirements.txt', line: 2, message: 'leftpad is not on the allowlist' },
              { message: 'no app.py in the bundle' },
            ],
          },
        }),
        { status: 422 },
      ),
    );
    render(<Findings findings={err.details} title={err.message} />);
    const alert = screen.getByRole('alert');
    expect(within(alert).getByText('the bundle was refused')).toBeInTheDocument();
    const rows = screen.getAllByTestId('finding');
    expect(rows).toHaveLength(3);
    expect(rows[0]).toHaveTextContent('app.py:4 — subprocess is not allowed');
    expect(rows[1]).toHaveTextContent('requirements.txt:2 — leftpad is not on the allowlist');
    expect(rows[2]).toHaveTextContent(/^no app\.py in the bundle$/);
  });

  it('renders nothing without findings', () => {
    const { container } = render(<Findings findings={[]} />);
    expect(container).toBeEmptyDOMElement();
  });
});
