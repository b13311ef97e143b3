// Tests for the sign-in page: the API message on failure, and the `next` redirect after success.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import { LoginPage } from './LoginPage';
import { AuthContext, type AuthState } from '../hooks/useAuth';
import { mockFetch, testUser } from '../test/utils';

function renderLogin(path: string) {
  const auth: AuthState = { user: null, error: undefined, setUser: vi.fn(), refresh: vi.fn(), signOut: vi.fn() };
  render(
    <AuthContext.Provider value={auth}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path="/login" element={<LoginPage />} />
          <Route path="/" element={<h1>Home</h1>} />
        </Routes>
      </MemoryRouter>
    </AuthContext.Provider>,
  );
  return auth;
}

const assign = vi.fn();
const realLocation = window.location;

function stubLocation() {
  Object.defineProperty(window, 'location', { configurable: true, value: { ...realLocation, origin: realLocation.origin, assign } });
}

afterEach(() => {
  Object.defineProperty(window, 'location', { configurable: true, value: realLocation });
  assign.mockReset();
});

async function signIn() {
  const user = userEvent.setup();
  await user.type(screen.getByLabelText('Email'), 'ada@example.com');
  await user.type(screen.getByLabelText('Password'), 'correct horse');
  await user.click(screen.getByRole('button', { name: 'Sign in' }));
}

describe('LoginPage', () => {
  it('goes to a same-origin next with a full page load', async () => {
    stubLocation();
    const calls = mockFetch(() => ({ body: { token: 't', expires_at: '', user: testUser } }));
    const auth = renderLogin('/login?next=%2Fapi%2Fv1%2Fapps%2Fabc%2Fopen');
    await signIn();
    expect(calls[0]).toMatchObject({ method: 'POST', url: '/api/v1/auth/login', body: { email: 'ada@example.com', password: 'correct horse' } });
    expect(auth.setUser).toHaveBeenCalledWith(testUser);
    expect(assign).toHaveBeenCalledWith(`${window.location.origin}/api/v1/apps/abc/open`);
  });

  it('ignores a foreign next and goes home', async () => {
    stubLocation();
    mockFetch(() => ({ body: { token: 't', expires_at: '', user: testUser } }));
    renderLogin('/login?next=https%3A%2F%2Fevil.example%2F');
    await signIn();
    expect(await screen.findByRole('heading', { name: 'Home' })).toBeInTheDocument();
    expect(assign).not.toHaveBeenCalled();
  });

  it('ignores a next whose dot segments collapse into another host', async () => {
    stubLocation();
    mockFetch(() => ({ body: { token: 't', expires_at: '', user: testUser } }));
    renderLogin('/login?next=%2F..%2F%2Fevil.example%2F');
    await signIn();
    expect(await screen.findByRole('heading', { name: 'Home' })).toBeInTheDocument();
    expect(assign).not.toHaveBeenCalled();
  });

  it('shows the API message when sign-in is refused', async () => {
    mockFetch(() => ({ status: 429, body: { error: { code: 'too_many_attempts', message: 'Too many failed attempts: try again in 5 minutes.' } } }));
    renderLogin('/login');
    await signIn();
    expect(await screen.findByRole('alert')).toHaveTextContent('Too many failed attempts: try again in 5 minutes.');
    expect(screen.getByRole('link', { name: 'Create an account' })).toBeInTheDocument();
  });
});
