// Top-level providers and the route table (every URL deep-links on reload).
import { BrowserRouter, Route, Routes } from 'react-router-dom';
import { AuthProvider } from './hooks/useAuth';
import { ToastProvider } from './components/Toast';
import { RequireAuth } from './layout/RequireAuth';
import { Shell } from './layout/Shell';
import { ProjectLayout } from './layout/ProjectLayout';
import { LoginPage } from './pages/LoginPage';
import { RegisterPage } from './pages/RegisterPage';
import { HomePage } from './pages/HomePage';
import { AppsPage } from './pages/AppsPage';
import { NewAppPage } from './pages/NewAppPage';
import { AppPage } from './pages/AppPage';
import { ProjectSettingsPage } from './pages/ProjectSettingsPage';
import { DataPage } from './pages/DataPage';
import { TablePage } from './pages/TablePage';
import { SourcePage } from './pages/SourcePage';
import { SourceTablePage } from './pages/SourceTablePage';
import { JobsPage } from './pages/JobsPage';
import { JobPage } from './pages/JobPage';
import { ScriptPage } from './pages/ScriptPage';
import { WorkspacesPage } from './pages/WorkspacesPage';
import { WorkspacePage } from './pages/WorkspacePage';
import { ReviewsPage } from './pages/ReviewsPage';
import { SubmissionPage } from './pages/SubmissionPage';
import { AdminPage } from './pages/AdminPage';
import { NotFoundPage } from './pages/NotFoundPage';

export function App() {
  return (
    <AuthProvider>
      <ToastProvider>
        <BrowserRouter>
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route path="/register" element={<RegisterPage />} />
            <Route
              element={
                <RequireAuth>
                  <Shell />
                </RequireAuth>
              }
            >
              <Route index element={<HomePage />} />
              <Route path="projects/:projectId" element={<ProjectLayout />}>
                <Route index element={<AppsPage />} />
                <Route path="apps/new" element={<NewAppPage />} />
                <Route path="apps/:appId" element={<AppPage />} />
                <Route path="data" element={<DataPage />} />
                <Route path="data/:tableName" element={<TablePage />} />
                <Route path="data/sources/:sourceName" element={<SourcePage />} />
                <Route path="data/sources/:sourceName/:schema/:tableName" element={<SourceTablePage />} />
                <Route path="jobs" element={<JobsPage />} />
                <Route path="jobs/scripts/new" element={<ScriptPage />} />
                <Route path="jobs/scripts/:scriptName" element={<ScriptPage />} />
                <Route path="jobs/:jobId" element={<JobPage />} />
                <Route path="workspaces" element={<WorkspacesPage />} />
                <Route path="workspaces/:workspaceId" element={<WorkspacePage />} />
                <Route path="reviews" element={<ReviewsPage />} />
                <Route path="submissions/:submissionId" element={<SubmissionPage />} />
                <Route path="settings" element={<ProjectSettingsPage />} />
                <Route path="*" element={<NotFoundPage />} />
              </Route>
              <Route path="admin" element={<AdminPage />} />
              <Route path="*" element={<NotFoundPage />} />
            </Route>
          </Routes>
        </BrowserRouter>
      </ToastProvider>
    </AuthProvider>
  );
}
