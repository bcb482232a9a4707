from django.apps import AppConfig

from apps.inventory import signals


class ReviewsConfig(AppConfig):
    name = "apps.reviews"
    label = "reviews"
    verbose_name = "Reviews: intentionality and accountability sign-offs"

    def ready(self) -> None:
        from apps.reviews import services

        def void_approvals(sender, version, actor, changed, **kwargs):
            services.review_expire_for_version(version=version, actor=actor, changed=changed)

        signals.version_content_changed.connect(void_approvals, dispatch_uid="reviews.void_approvals", weak=False)
