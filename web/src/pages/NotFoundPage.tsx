// Friendly page for unknown routes.
import { NotFoundState } from '../components/States';
import { ButtonLink } from '../components/Button';
import { useDocumentTitle } from '../hooks/useDocumentTitle';

export function NotFoundPage() {
  useDocumentTitle('Page not found');
  return (
    <div className="page">
      <NotFoundState
        what="Page"
        actions={
          <ButtonLink to="/" variant="primary">
            Back to your apps
          </ButtonLink>
        }
      >
        This hedgehog dug around but found nothing at this address. Check the link, or head back home.
      </NotFoundState>
    </div>
  );
}
