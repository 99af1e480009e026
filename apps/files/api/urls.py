"""URLs of the files context's API, with their full paths (the gateway dispatches here by prefix)."""

from django.urls import URLPattern, URLResolver, path

from apps.files.api import internal, uploads, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/files/", views.FileListApi.as_view(), name="files"),
    path("api/files/uploads/", uploads.UploadCreateApi.as_view(), name="files-uploads"),
    path("api/files/uploads/<int:file_id>/", uploads.UploadApi.as_view(), name="files-upload"),
    path("api/files/signed/<str:token>/", views.SignedDownloadApi.as_view(), name="files-signed-download"),
    path("api/files/<int:file_id>/", views.FileDetailApi.as_view(), name="file"),
    path("api/files/<int:file_id>/validation/", views.FileValidationApi.as_view(), name="file-validation"),
    path("api/files/<int:file_id>/download/", views.FileDownloadApi.as_view(), name="file-download"),
    path("api/files/<int:file_id>/download-url/", views.FileDownloadLinkApi.as_view(), name="file-download-url"),
    path("api/files/<int:file_id>/zip-password/", views.ZipPasswordApi.as_view(), name="file-zip-password"),
    path("internal/files/results/", internal.ResultRegisterApi.as_view(), name="internal-files-results"),
    path("internal/files/results/stored/", internal.ResultStoreApi.as_view(), name="internal-files-results-stored"),
    path("internal/files/storage-health/", internal.StorageHealthApi.as_view(), name="internal-files-storage-health"),
    path("internal/files/<int:file_id>/", internal.FileInfoApi.as_view(), name="internal-file"),
    path("internal/files/<int:file_id>/open/", internal.FileOpenApi.as_view(), name="internal-file-open"),
]
